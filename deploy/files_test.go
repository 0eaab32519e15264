package deploy

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// checkedBy names, for every file under deploy/ and the deployment files
// outside it, the test that reads and checks it.
var checkedBy = map[string]string{
	"compose.yaml":                  "TestCompose",
	"compose.turn-tls.yaml":         "TestComposeTURNOverTLS",
	"Caddyfile":                     "TestCompose",
	"kubernetes/kustomization.yaml": "TestKubernetesManifests",
	"kubernetes/duet.yaml":          "TestKubernetesManifests",
	"kubernetes/nats.yaml":          "TestKubernetesManifests",
	"kubernetes/turn.yaml":          "TestKubernetesManifests",
	"systemd/duet.service":          "TestSystemdUnit",
	"systemd/duet.yaml":             "TestSystemdUnit",
	"systemd/https.conf":            "TestSystemdUnit",
	"../Dockerfile":                 "TestImage",
	"../.dockerignore":              "TestImage",
	"../scripts/release.sh":         "TestRelease",
	"../scripts/sdk-pack.sh":        "TestRelease",
}

// TestEveryDeployFileIsChecked fails for a file under deploy/ that no test
// checks: add one, and a line above.
func TestEveryDeployFileIsChecked(t *testing.T) {
	var sources strings.Builder
	tests, _ := filepath.Glob("*_test.go")
	for _, f := range tests {
		b, _ := os.ReadFile(f)
		sources.Write(b)
	}
	for file, test := range checkedBy {
		if _, err := os.Stat(file); err != nil {
			t.Errorf("%s (checked by %s): %v", file, test, err)
		}
		if !regexp.MustCompile(`(?m)^func ` + test + `\(t \*testing\.T\)`).MatchString(sources.String()) {
			t.Errorf("%s: no test %s", file, test)
		}
	}
	var unchecked []string
	filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch {
		case strings.HasSuffix(path, ".go"), path == "go.mod", path == "go.sum":
			// this module: built, vetted and run by `make deploy-check`
		case checkedBy[path] == "":
			unchecked = append(unchecked, path)
		}
		return nil
	})
	sort.Strings(unchecked)
	if len(unchecked) > 0 {
		t.Errorf("files under deploy/ that no test checks: %v", unchecked)
	}
}
