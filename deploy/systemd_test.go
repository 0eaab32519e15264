package deploy

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duet-rtc/duet/config"
)

// unit is a systemd unit file: section → key → values in order (a key may
// repeat; an empty value resets the list, as systemd does).
type unit map[string]map[string][]string

func readUnit(t *testing.T, path string, into unit) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if into == nil {
		into = unit{}
	}
	section := ""
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		line := strings.TrimSpace(lines.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if into[section] == nil {
				into[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: line %q", path, line)
			}
			if v == "" {
				into[section][k] = []string{}
			} else {
				into[section][k] = append(into[section][k], v)
			}
		}
	}
	return into
}

func (u unit) get(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// TestSystemdUnit: the unit runs duet with the example configuration under
// a dynamic user with systemd's hardening, keeps state in its
// StateDirectory, waits longer than the drain to stop it, and grants
// CAP_NET_BIND_SERVICE only together with a port below 1024 (the https.conf
// drop-in). systemd-analyze verifies the files and rates their exposure.
func TestSystemdUnit(t *testing.T) {
	base := readUnit(t, "systemd/duet.service", nil)
	for key, want := range map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "NoNewPrivileges": "yes", "PrivateTmp": "yes",
		"PrivateDevices": "yes", "StateDirectory": "duet", "KillSignal": "SIGTERM", "Restart": "on-failure",
		"RestrictNamespaces": "yes", "MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native",
	} {
		if got := base.get("Service", key); got != want {
			t.Errorf("duet.service: %s=%q, want %q", key, got, want)
		}
	}
	checkUnitConfig(t, "duet.service", base)

	withHTTPS := readUnit(t, "systemd/https.conf", readUnit(t, "systemd/duet.service", nil))
	cfg := checkUnitConfig(t, "duet.service + https.conf", withHTTPS)
	if cfg.TLSMode() != config.TLSACME || cfg.HTTPListen == "" {
		t.Errorf("https.conf: TLS %s, http_listen %q: want ACME with the redirect", cfg.TLSMode(), cfg.HTTPListen)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze not found: scripts/deps.sh installs Debian's systemd")
	}
	// A copy whose ExecStart names an executable that exists here, which
	// verify requires; the drop-in beside it as in /etc/systemd/system.
	dir := t.TempDir()
	b, _ := os.ReadFile("systemd/duet.service")
	self, _ := os.Executable()
	unitFile := filepath.Join(dir, "duet.service")
	os.WriteFile(unitFile, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/duet", self)), 0o644)
	for _, dropIn := range []bool{false, true} {
		if dropIn {
			os.Mkdir(unitFile+".d", 0o755)
			c, _ := os.ReadFile("systemd/https.conf")
			os.WriteFile(filepath.Join(unitFile+".d", "https.conf"), c, 0o644)
		}
		if out, err := exec.Command(analyze, "verify", unitFile).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify (drop-in %v): %v\n%s", dropIn, err, out)
		}
		// 2.0 or less is what systemd calls "OK" (10 is "UNSAFE").
		out, err := exec.Command(analyze, "security", "--offline=true", "--threshold=20", unitFile).CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Logf("drop-in %v: %s", dropIn, lines[len(lines)-1])
		if err != nil {
			t.Errorf("systemd-analyze security (drop-in %v): exposure above 2.0: %v\n%s", dropIn, err, out)
		}
	}
}

// checkUnitConfig loads the configuration duet gets from the unit — its
// ExecStart arguments with the example file for /etc/duet/duet.yaml, its
// Environment= lines, STATE_DIRECTORY — and checks what depends on it.
func checkUnitConfig(t *testing.T, what string, u unit) config.Config {
	t.Helper()
	args := strings.Fields(u.get("Service", "ExecStart"))
	if len(args) < 2 || args[0] != "/usr/local/bin/duet" || args[1] != "serve" {
		t.Fatalf("%s: ExecStart %v", what, args)
	}
	args = args[2:]
	for i, a := range args {
		if a == "--config" && i+1 < len(args) && args[i+1] == "/etc/duet/duet.yaml" {
			args[i+1] = "systemd/duet.yaml"
		}
	}
	vars := map[string]string{}
	for _, line := range u["Service"]["Environment"] {
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			vars[k] = v
		}
	}
	cfg := loadDuetConfig(t, what, args, vars)
	if cfg.DataDir != "" {
		t.Errorf("%s: data_dir %q: leave it to StateDirectory", what, cfg.DataDir)
	}
	stop, err := time.ParseDuration(u.get("Service", "TimeoutStopSec") + "s")
	if err != nil {
		stop, err = time.ParseDuration(u.get("Service", "TimeoutStopSec"))
	}
	if err != nil || stop < cfg.DrainTimeout+5*time.Second {
		t.Errorf("%s: TimeoutStopSec %q is shorter than drain_timeout %s + 5s: systemd would kill the drain", what, u.get("Service", "TimeoutStopSec"), cfg.DrainTimeout)
	}
	low := false
	for _, addr := range []string{cfg.Listen, cfg.HTTPListen, turnListen(cfg)} {
		if _, port, err := net.SplitHostPort(addr); err == nil {
			if p, _ := strconv.Atoi(port); p > 0 && p < 1024 {
				low = true
			}
		}
	}
	caps := u.get("Service", "AmbientCapabilities")
	bounding := u.get("Service", "CapabilityBoundingSet")
	switch {
	case low && (caps != "CAP_NET_BIND_SERVICE" || bounding != "CAP_NET_BIND_SERVICE"):
		t.Errorf("%s: binds below 1024 with AmbientCapabilities=%q CapabilityBoundingSet=%q", what, caps, bounding)
	case !low && (caps != "" || bounding != ""):
		t.Errorf("%s: AmbientCapabilities=%q CapabilityBoundingSet=%q without a port below 1024", what, caps, bounding)
	}
	return cfg
}

func turnListen(cfg config.Config) string {
	if cfg.TurnEnabled {
		return cfg.TurnListen
	}
	return ""
}
