package deploy

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/duet-rtc/duet/client"
)

const imageTag = "localhost/duet-imagetest:latest"

// image is what `podman image inspect` says of an image (the part checked).
type image struct {
	ID     string `json:"Id"`
	Config struct {
		User         string
		ExposedPorts map[string]struct{}
		Env          []string
		Entrypoint   []string
		Cmd          []string
		Volumes      map[string]struct{}
		StopSignal   string
	}
	Healthcheck struct {
		Test []string
	}
}

// TestImage builds the Dockerfile with podman, as CI or a person would with
// docker, but offline: the builder base is this machine's Go toolchain and
// a static busybox imported as an image, the runtime base is scratch, and
// the modules come from a vendor/ directory made in a copy of the source.
// `podman run` does not work in this sandbox, so the image's filesystem is
// exported and its entrypoint run from it with chroot as the image's user;
// it serves a WebRTC call between two pion peers over wss:// with its
// self-signed certificate kept in the /data volume, answers its own
// HEALTHCHECK, and drains on SIGTERM.
func TestImage(t *testing.T) {
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman is not installed here (scripts/deps.sh installs it from Debian's packages): the image cannot be built")
	}
	root := repoRoot(t)
	began := time.Now()
	builder := builderImage(t, podman)
	ctxDir := buildContext(t, root)
	commit := strings.TrimSpace(run(t, root, time.Minute, "git", "rev-parse", "HEAD"))
	old := inspectImage(podman, imageTag)
	// No layers kept: each run's build stage would stay behind as a
	// 300 MB untagged image. The Go build cache is a cache mount and
	// survives without them.
	run(t, ctxDir, 15*time.Minute, podman, "build", "--isolation=chroot", "--format=docker", "--layers=false",
		"--build-arg", "GO_IMAGE="+builder, "--build-arg", "RUNTIME_IMAGE=scratch",
		"--build-arg", "VERSION=v0.0.0-imagetest", "--build-arg", "COMMIT="+commit,
		"--build-arg", "DATE="+time.Now().UTC().Format(time.RFC3339), "--tag", imageTag, ".")
	img := inspectImage(podman, imageTag)
	if img == nil {
		t.Fatal("built image not found")
	}
	if old != nil && old.ID != img.ID {
		exec.Command(podman, "rmi", old.ID).Run() // the previous run's, now untagged
	}
	t.Logf("image %.12s built in %s", img.ID, time.Since(began).Round(time.Second))

	checkImageConfig(t, img)
	rootfs := exportImage(t, podman)
	checkImageFiles(t, rootfs, commit)
	serveFromImage(t, img, rootfs)
}

func checkImageConfig(t *testing.T, img *image) {
	t.Helper()
	c := img.Config
	if c.User != "65532:65532" {
		t.Errorf("USER %q, want the non-root 65532:65532", c.User)
	}
	for _, p := range []string{"5080/tcp", "3478/udp", "3478/tcp"} {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("EXPOSE lacks %s: %v", p, c.ExposedPorts)
		}
	}
	if want := []string{"CMD", "/usr/local/bin/duet", "healthcheck"}; !slices.Equal(img.Healthcheck.Test, want) {
		t.Errorf("HEALTHCHECK %v, want %v", img.Healthcheck.Test, want)
	}
	if c.StopSignal != "SIGTERM" || !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/duet"}) || !slices.Equal(c.Cmd, []string{"serve"}) {
		t.Errorf("STOPSIGNAL %q ENTRYPOINT %v CMD %v", c.StopSignal, c.Entrypoint, c.Cmd)
	}
	if _, ok := c.Volumes["/data"]; !ok || !slices.Contains(c.Env, "DUET_DATA_DIR=/data") {
		t.Errorf("volumes %v env %v: want /data as DUET_DATA_DIR", c.Volumes, c.Env)
	}
}

// checkImageFiles: a static binary built with -trimpath and CGO_ENABLED=0,
// that links none of the test-only modules; nothing else to run (no shell);
// /data writable by the non-root user only; /tmp for everyone.
func checkImageFiles(t *testing.T, rootfs, commit string) {
	t.Helper()
	bin := filepath.Join(rootfs, "usr/local/bin/duet")
	if static, err := isStatic(bin); err != nil || !static {
		t.Errorf("%s: static %v, %v", bin, static, err)
	}
	bi, settings := buildSettings(t, bin)
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" || settings["GOOS"] != "linux" {
		t.Errorf("build settings %v", settings)
	}
	// The build arguments reach `duet version` (-trimpath keeps -ldflags
	// out of the recorded settings, so ask the binary).
	out := run(t, "", time.Minute, "chroot", "--userspec=65532:65532", rootfs, "/usr/local/bin/duet", "version", "--json")
	var v struct{ Version, Commit, Date, Go string }
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Version != "v0.0.0-imagetest" || v.Commit != commit || v.Date == "" || v.Go == "" {
		t.Errorf("duet version in the image: %s (%v)", out, err)
	}
	noTestModules(t, bin, bi)
	if _, err := os.Lstat(filepath.Join(rootfs, "bin/sh")); err == nil {
		t.Error("the image has a shell")
	}
	for path, want := range map[string]struct {
		uid  uint32
		mode fs.FileMode
	}{"data": {65532, 0o755 | fs.ModeDir}, "tmp": {0, 0o777 | fs.ModeDir | fs.ModeSticky}, "usr/local/bin/duet": {0, 0o755}} {
		fi, err := os.Stat(filepath.Join(rootfs, path))
		if err != nil {
			t.Errorf("/%s: %v", path, err)
			continue
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != want.uid || fi.Mode() != want.mode {
			t.Errorf("/%s: owner %d mode %v, want %d %v", path, uid, fi.Mode(), want.uid, want.mode)
		}
	}
	if _, err := os.Stat(filepath.Join(rootfs, "etc/ssl/certs/ca-certificates.crt")); err != nil {
		t.Errorf("no CA certificates for ACME: %v", err)
	}
}

// serveFromImage runs the image's entrypoint and command from its
// filesystem as its user, with the image's environment and what a user
// would add with -e.
func serveFromImage(t *testing.T, img *image, rootfs string) {
	t.Helper()
	chroot, err := exec.LookPath("chroot")
	if err != nil {
		t.Fatal(err)
	}
	env := append(slices.Clone(img.Config.Env), "DUET_TLS_SELF_SIGNED=true", "DUET_DRAIN_TIMEOUT=5s", "DUET_LOG_FORMAT=json")
	argv := append(slices.Clone(img.Config.Entrypoint), img.Config.Cmd...)
	cmd := exec.Command(chroot, append([]string{"--userspec=" + img.Config.User, rootfs}, argv...)...)
	cmd.Env = append(env, "DUET_LISTEN=127.0.0.1:0")
	stdout := &lockedBuffer{}
	cmd.Stdout = stdout
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	logs := &lockedBuffer{}
	addr := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			logs.Write(append(lines.Bytes(), '\n'))
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(lines.Bytes(), &rec) == nil && rec.Msg == "duet listening" {
				addr <- rec.Addr
			}
		}
	}()
	var listen string
	select {
	case listen = <-addr:
	case err := <-exited:
		t.Fatalf("duet exited: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("duet did not start:\n%s", logs.String())
	}
	if uid := procUID(t, cmd.Process.Pid); uid != "65532" {
		t.Errorf("duet runs as uid %s", uid)
	}

	// The certificate duet made, as the non-root user, in the volume.
	crt := filepath.Join(rootfs, "data/tls/self-signed.crt")
	eventually(t, 5*time.Second, "the fingerprint on stdout", func() bool { return strings.Contains(stdout.String(), "SHA-256 fingerprint:") })
	pemBytes, err := os.ReadFile(crt)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(crt); fi.Sys().(*syscall.Stat_t).Uid != 65532 {
		t.Errorf("%s not written by the image's user", crt)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)

	// HEALTHCHECK, run as the container runtime would: in the container,
	// with its environment (DUET_LISTEN as given with -e).
	hc := exec.Command(chroot, append([]string{"--userspec=" + img.Config.User, rootfs}, img.Healthcheck.Test[1:]...)...)
	hc.Env = append(env, "DUET_LISTEN="+listen)
	if out, err := hc.CombinedOutput(); err != nil || !strings.Contains(string(out), "https://"+listen+"/healthz: ok") {
		t.Fatalf("HEALTHCHECK: %v %s", err, out)
	}

	pionCall(t, "wss://"+listen+"/WebRTCAppEE/websocket", pool)

	// SIGTERM: a connected client is told, then the process exits 0.
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
	ws, _, err := d.Dial("wss://"+listen+"/WebRTCAppEE/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("no server_will_stop before %v", err)
		}
		if strings.Contains(string(msg), `"server_will_stop"`) {
			break
		}
	}
	ws.Close()
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("duet did not exit after SIGTERM")
	}
}

// pionCall makes a call between two Go SDK peers (pion) through url: the
// data channel opens and carries a message each way.
func pionCall(t *testing.T, url string, pool *x509.CertPool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dialer := &websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}, HandshakeTimeout: 10 * time.Second}
	var sessions [2]*client.Session
	var peers [2]*client.Peer
	room := fmt.Sprintf("image-%d", time.Now().UnixNano())
	for i := range peers {
		c, err := client.Dial(ctx, url, &client.Options{Dialer: dialer})
		if err != nil {
			t.Fatalf("dial %s: %v", url, err)
		}
		defer c.Close()
		if peers[i], err = client.NewPeer(ctx, c, room, &client.PeerOptions{Loopback: true}); err != nil {
			t.Fatal(err)
		}
		defer peers[i].Close()
	}
	for i, p := range peers {
		s, err := p.Accept(ctx)
		if err != nil {
			t.Fatalf("peer %d: %v", i, err)
		}
		sessions[i] = s
	}
	for i, s := range sessions {
		text := fmt.Sprintf("hello from peer %d", i)
		if err := s.SendText(ctx, text); err != nil {
			t.Fatal(err)
		}
		m, err := sessions[1-i].Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(m.Data); got != text {
			t.Fatalf("peer %d got %q, want %q", 1-i, got, text)
		}
	}
}

// builderImage imports this machine's Go toolchain, CA certificates and a
// static busybox (for the Dockerfile's RUN) as a local image that stands
// for golang:1.26, once per Go version.
func builderImage(t *testing.T, podman string) string {
	t.Helper()
	goroot := strings.TrimSpace(run(t, "", time.Minute, "go", "env", "GOROOT"))
	gover := strings.TrimSpace(run(t, "", time.Minute, "go", "env", "GOVERSION"))
	tag := "localhost/duet-imagetest-go:" + strings.TrimPrefix(gover, "go")
	if exec.Command(podman, "image", "exists", tag).Run() == nil {
		return tag
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal("busybox not found: scripts/deps.sh installs Debian's busybox-static")
	}
	if static, err := isStatic(busybox); err != nil || !static {
		t.Fatalf("%s is not a static binary (%v): scripts/deps.sh installs Debian's busybox-static", busybox, err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeBuilderTar(pw, goroot, busybox)) }()
	cmd := exec.Command(podman, "import",
		"--change", "ENV PATH=/usr/local/go/bin:/go/bin:/bin", "--change", "ENV GOPATH=/go", "--change", "ENV HOME=/root",
		"--change", "ENV GOPROXY=off", "--change", "ENV GOTOOLCHAIN=local", "--change", "ENV GOFLAGS=-mod=vendor",
		"-", tag)
	cmd.Stdin = pr
	if out, err := cmd.CombinedOutput(); err != nil {
		pr.CloseWithError(err)
		t.Fatalf("podman import: %v\n%s", err, out)
	}
	return tag
}

func writeBuilderTar(w io.Writer, goroot, busybox string) error {
	tw := tar.NewWriter(w)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: time.Now()})
	}
	file := func(name, src string) error {
		fi, err := os.Stat(src)
		if err != nil {
			return err
		}
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(fi.Mode().Perm()), Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		return err
	}
	for _, d := range []string{"bin", "etc", "etc/ssl", "etc/ssl/certs", "root", "go", "src", "usr", "usr/local"} {
		if err := dir(d, 0o755); err != nil {
			return err
		}
	}
	if err := dir("tmp", 0o1777); err != nil {
		return err
	}
	if err := file("bin/busybox", busybox); err != nil {
		return err
	}
	for _, applet := range []string{"sh", "mkdir", "chmod", "cp", "ls", "cat", "rm", "mv", "ln", "env", "echo", "true"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777}); err != nil {
			return err
		}
	}
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		if err := file("etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt"); err != nil {
			return err
		}
	}
	err := filepath.WalkDir(goroot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(goroot, path)
		name := filepath.ToSlash(filepath.Join("usr/local/go", rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return dir(name, int64(info.Mode().Perm()))
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777})
		case info.Mode().IsRegular():
			return file(name, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// buildContext copies the repository's files (tracked and new, not
// ignored) to a temporary directory and vendors the modules there.
func buildContext(t *testing.T, root string) string {
	t.Helper()
	dst := t.TempDir()
	list := run(t, root, time.Minute, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	for _, name := range strings.Split(strings.TrimRight(list, "\x00"), "\x00") {
		if name == "" || strings.HasPrefix(name, "deploy/") || strings.HasPrefix(name, "go.work") {
			continue // the image builds in module mode: go.mod's replaces find client/ and protocol/
		}
		src := filepath.Join(root, name)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dst, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dst, name), b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	run(t, dst, 5*time.Minute, "go", "mod", "vendor")
	return dst
}

// exportImage writes the image's filesystem to a directory, as a
// container of it would see it (the /data volume as the image made it).
func exportImage(t *testing.T, podman string) string {
	t.Helper()
	name := fmt.Sprintf("duet-imagetest-%d", os.Getpid())
	exec.Command(podman, "rm", "--force", name).Run()
	run(t, "", time.Minute, podman, "create", "--image-volume=ignore", "--name", name, imageTag)
	t.Cleanup(func() { exec.Command(podman, "rm", "--force", name).Run() })
	dir := t.TempDir()
	tarball := filepath.Join(dir, "image.tar")
	run(t, "", 2*time.Minute, podman, "export", "--output", tarball, name)
	rootfs := filepath.Join(dir, "rootfs")
	os.Mkdir(rootfs, 0o755)
	run(t, "", 2*time.Minute, "tar", "--extract", "--same-owner", "--preserve-permissions", "--file", tarball, "--directory", rootfs)
	return rootfs
}

func inspectImage(podman, tag string) *image {
	out, err := exec.Command(podman, "image", "inspect", tag).Output()
	if err != nil {
		return nil
	}
	var imgs []image
	if json.Unmarshal(out, &imgs) != nil || len(imgs) != 1 {
		return nil
	}
	return &imgs[0]
}

// buildSettings reads a Go binary's build information and its settings
// by key.
func buildSettings(t *testing.T, bin string) (*buildinfo.BuildInfo, map[string]string) {
	t.Helper()
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	return bi, settings
}

// noTestModules fails t if bin links a module only the tests use.
func noTestModules(t *testing.T, bin string, bi *buildinfo.BuildInfo) {
	t.Helper()
	for _, d := range bi.Deps {
		for _, banned := range []string{"k8s.io/", "sigs.k8s.io/", "github.com/compose-spec/", "github.com/letsencrypt/pebble", "github.com/chromedp/"} {
			if strings.HasPrefix(d.Path, banned) {
				t.Errorf("%s links %s, a test-only module", bin, d.Path)
			}
		}
	}
}

// isStatic reports whether an ELF binary has no program interpreter.
func isStatic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// procUID is the real user id of a running process.
func procUID(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
			return f[1]
		}
	}
	return ""
}
