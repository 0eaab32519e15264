package deploy

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const releaseVersion = "v0.0.0-releasetest"

// TestRelease runs scripts/release.sh for linux/amd64 and linux/arm64, checks
// the archives against checksums.txt, reads each SBOM, runs the amd64
// binary's `duet version`, and the arm64 one's under qemu-user.
func TestRelease(t *testing.T) {
	root := repoRoot(t)
	dist := t.TempDir()
	commit := strings.TrimSpace(run(t, root, time.Minute, "git", "rev-parse", "HEAD"))
	gover := strings.TrimSpace(run(t, root, time.Minute, "go", "env", "GOVERSION"))
	began := time.Now()
	if out, err := runErr(root, 15*time.Minute, []string{"TARGETS=linux/amd64 linux/arm64", "DIST=" + dist, "VERSION=" + releaseVersion,
		"SOURCE_DATE_EPOCH=1767225600"}, "scripts/release.sh"); err != nil {
		t.Fatalf("release.sh: %v\n%s", err, out)
	}
	t.Logf("release.sh built two targets in %s", time.Since(began).Round(time.Second))

	sums := readChecksums(t, filepath.Join(dist, "checksums.txt"))
	sdk := "duet-rtc-sdk-" + strings.TrimPrefix(releaseVersion, "v") + ".tgz"
	want := []string{sdk}
	for _, arch := range []string{"amd64", "arm64"} {
		base := "duet_" + strings.TrimPrefix(releaseVersion, "v") + "_linux_" + arch
		want = append(want, base+".tar.gz", base+".sbom.cdx.json")
	}
	files, _ := filepath.Glob(filepath.Join(dist, "duet*"))
	var got []string
	for _, f := range files {
		got = append(got, filepath.Base(f))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) || len(sums) != len(want) {
		t.Fatalf("dist holds %v with checksums for %v, want %v", got, sums, want)
	}
	for name, sum := range sums {
		b, err := os.ReadFile(filepath.Join(dist, name))
		if err != nil {
			t.Fatal(err)
		}
		if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s: checksum mismatch", name)
		}
	}

	checkSDKPackage(t, filepath.Join(dist, sdk))

	for _, arch := range []string{"amd64", "arm64"} {
		base := "duet_" + strings.TrimPrefix(releaseVersion, "v") + "_linux_" + arch
		dir := extract(t, filepath.Join(dist, base+".tar.gz"))
		bin := filepath.Join(dir, base, "duet")
		for _, f := range []string{"LICENSE", "README.md"} {
			if _, err := os.Stat(filepath.Join(dir, base, f)); err != nil {
				t.Errorf("%s lacks %s", base, f)
			}
		}
		checkReleaseBinary(t, bin, arch)
		checkSBOM(t, filepath.Join(dist, base+".sbom.cdx.json"))

		var argv []string
		switch {
		case arch == "amd64":
			argv = []string{bin}
		default:
			qemu, err := exec.LookPath("qemu-" + map[string]string{"arm64": "aarch64"}[arch])
			if err != nil {
				t.Fatalf("no qemu-user to run the %s binary (scripts/deps.sh installs Debian's qemu-user)", arch)
			}
			argv = []string{qemu, bin}
		}
		out := run(t, "", time.Minute, argv[0], append(argv[1:], "version", "--json")...)
		var v struct{ Version, Commit, Date, Go, Platform string }
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%s version: %v %s", arch, err, out)
		}
		want := struct{ Version, Commit, Date, Go, Platform string }{releaseVersion, commit, "2026-01-01T00:00:00Z", gover, "linux/" + arch}
		if v != want {
			t.Errorf("%s: duet version = %+v, want %+v", arch, v, want)
		}
	}
}

// checkSDKPackage: the browser SDK's npm package file holds the SDK's
// files, the license and a package.json of the release's version.
// (web's TestSDKPackage installs such a file and makes a call with it.)
func checkSDKPackage(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var pkg struct{ Name, Version, Types string }
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == "package/package.json" {
			if err := json.NewDecoder(tr).Decode(&pkg); err != nil {
				t.Fatal(err)
			}
		}
	}
	slices.Sort(names)
	// Every file of the SDK, and the package's own two.
	want := []string{"package/LICENSE", "package/package.json"}
	sdk, _ := filepath.Glob(filepath.Join(repoRoot(t), "web", "sdk", "*.js"))
	types, _ := filepath.Glob(filepath.Join(repoRoot(t), "web", "sdk", "*.d.ts"))
	for _, f := range append(sdk, types...) {
		want = append(want, "package/"+filepath.Base(f))
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("%s holds %v, want %v", path, names, want)
	}
	if pkg.Name != "@duet-rtc/sdk" || pkg.Version != strings.TrimPrefix(releaseVersion, "v") || pkg.Types != "./duet.d.ts" {
		t.Errorf("%s: package.json %+v", path, pkg)
	}
}

// checkReleaseBinary: a static ELF for arch, built with CGO_ENABLED=0 and
// -trimpath, linking no test-only module.
func checkReleaseBinary(t *testing.T, bin, arch string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	machine := f.Machine
	f.Close()
	if want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]; machine != want {
		t.Errorf("%s: ELF machine %v, want %v", bin, machine, want)
	}
	if static, err := isStatic(bin); err != nil || !static {
		t.Errorf("%s: static %v %v", bin, static, err)
	}
	bi, settings := buildSettings(t, bin)
	if settings["GOARCH"] != arch || settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("%s build settings %v", bin, settings)
	}
	noTestModules(t, bin, bi)
}

// checkSBOM reads a CycloneDX SBOM: the binary with its version, and the
// modules it is built from with versions and package URLs.
func checkSBOM(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat, SpecVersion string
		Metadata               struct {
			Component struct{ Name, Version string }
		}
		Components []struct{ Name, Version, Purl string }
	}
	if err := json.Unmarshal(b, &bom); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if bom.BOMFormat != "CycloneDX" || bom.SpecVersion == "" || !strings.Contains(bom.Metadata.Component.Name, "duet") ||
		bom.Metadata.Component.Version != releaseVersion {
		t.Errorf("%s: %s %s, component %+v", path, bom.BOMFormat, bom.SpecVersion, bom.Metadata.Component)
	}
	found := map[string]string{}
	for _, c := range bom.Components {
		found[c.Name] = c.Version
		if !strings.HasPrefix(c.Purl, "pkg:golang/") {
			t.Errorf("%s: component %s has purl %q", path, c.Name, c.Purl)
		}
	}
	for _, m := range []string{"github.com/pion/webrtc/v4", "github.com/nats-io/nats-server/v2", "golang.org/x/crypto"} {
		if found[m] == "" {
			t.Errorf("%s: no component %s among %d", path, m, len(bom.Components))
		}
	}
}

func readChecksums(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := map[string]string{}
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		sum, name, ok := strings.Cut(lines.Text(), "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("checksums.txt line %q", lines.Text())
		}
		sums[name] = sum
	}
	return sums
}

// extract unpacks a .tar.gz into a temporary directory, checking that its
// entries are owned by root and stay inside one top directory.
func extract(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := tar.NewReader(zr)
	top := strings.TrimSuffix(filepath.Base(path), ".tar.gz")
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || !strings.HasPrefix(h.Name, top+"/") && h.Name != top+"/" {
			t.Fatalf("%s: entry %s owned by %d:%d", path, h.Name, h.Uid, h.Gid)
		}
		target := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(target, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(target), 0o755)
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, os.FileMode(h.Mode).Perm())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, tr); err != nil {
			t.Fatal(err)
		}
		out.Close()
	}
}

// TestReleaseTargetsTypeCheck: the other release targets compile (vet
// type-checks duet for them without linking), so that a file for Linux only
// is caught before a release.
func TestReleaseTargetsTypeCheck(t *testing.T) {
	root := repoRoot(t)
	for _, target := range []string{"windows/amd64", "darwin/arm64"} {
		os, arch, _ := strings.Cut(target, "/")
		if out, err := runErr(root, 10*time.Minute, []string{"GOOS=" + os, "GOARCH=" + arch, "CGO_ENABLED=0"}, "go", "vet", "./cmd/duet"); err != nil {
			t.Errorf("%s: %v\n%s", target, err, out)
		}
	}
}
