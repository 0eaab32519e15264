package deploy

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/duet-rtc/duet/config"
)

// TestComposeTURN: the turn service runs `duet turn` on the host's
// network, with a data volume that keeps the TURN secret, health on
// loopback that duet healthcheck finds, and a stop grace period that lets
// its drain run; every signaling node waits for it, reads the secret from
// that volume and advertises it at DUET_TURN_HOST on the port it listens
// on.
func TestComposeTURN(t *testing.T) {
	p := loadCompose(t, "DUET_TURN_HOST=turn.example.com")
	turn, ok := p.Services["turn"]
	if !ok {
		t.Fatal("no turn service")
	}
	tcfg := duetConfig(t, "turn", turn.Command, turn.Environment)
	if len(turn.Command) == 0 || turn.Command[0] != "turn" || turn.NetworkMode != "host" {
		t.Errorf("turn: command %v network_mode %q, want duet turn on the host's network", turn.Command, turn.NetworkMode)
	}
	if !strings.HasPrefix(tcfg.Listen, "127.0.0.1:") {
		t.Errorf("turn: health and metrics on %s, on the host's network", tcfg.Listen)
	}
	if turn.HealthCheck == nil || strings.Join(turn.HealthCheck.Test, " ") != "CMD /usr/local/bin/duet healthcheck" {
		t.Errorf("turn: healthcheck %+v", turn.HealthCheck)
	}
	if turn.StopGracePeriod == nil || time.Duration(*turn.StopGracePeriod) < tcfg.DrainTimeout+5*time.Second {
		t.Errorf("turn: stop_grace_period %v, want at least drain_timeout (%s) + 5s", turn.StopGracePeriod, tcfg.DrainTimeout)
	}
	dataVolume := volumeAt(turn, "/data") // the image's DUET_DATA_DIR
	if dataVolume == "" || tcfg.TurnSecretFile != "" || tcfg.TurnSecret != "" {
		t.Errorf("turn: the TURN secret is not kept in a volume at its data_dir (volume %q, file %q)", dataVolume, tcfg.TurnSecretFile)
	}
	_, turnPort, _ := net.SplitHostPort(tcfg.TurnListen)

	for _, name := range []string{"duet1", "duet2", "duet3"} {
		s := p.Services[name]
		cfg := duetConfig(t, name, s.Command, s.Environment)
		if s.DependsOn["turn"].Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: does not wait for turn to be healthy (it makes the secret)", name)
		}
		if v := volumeAt(s, filepath.Dir(cfg.TurnSecretFile)); v != dataVolume || cfg.TurnSecret != "" {
			t.Errorf("%s: turn_secret_file %s is in volume %q, not turn's data volume %q", name, cfg.TurnSecretFile, v, dataVolume)
		}
		checkAdvertised(t, name, cfg, "turn.example.com", turnPort, "")
	}
}

// TestComposeTURNOverTLS: compose.turn-tls.yaml adds TURN over TLS to the
// turn service, with a certificate from a mounted directory, and the
// nodes advertise it under the name the certificate is for.
func TestComposeTURNOverTLS(t *testing.T) {
	p := loadComposeFiles(t, []string{"compose.yaml", "compose.turn-tls.yaml"}, "DUET_TURN_HOST=turn.example.com", "DUET_TURN_TLS_DIR=/etc/duet-turn-tls")
	turn := p.Services["turn"]
	tcfg := duetConfig(t, "turn", turn.Command, turn.Environment)
	if tcfg.TLSMode() != config.TLSFiles || tcfg.TurnTLSListen == "" || tcfg.TurnHost != "turn.example.com" {
		t.Fatalf("turn: TLS %s on %q for %q", tcfg.TLSMode(), tcfg.TurnTLSListen, tcfg.TurnHost)
	}
	var mounted bool
	for _, v := range turn.Volumes {
		if v.Type == types.VolumeTypeBind && v.Source == "/etc/duet-turn-tls" && strings.HasPrefix(tcfg.TLSCert, v.Target+"/") &&
			strings.HasPrefix(tcfg.TLSKey, v.Target+"/") && v.ReadOnly {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("turn: certificate %s, key %s not in the read-only DUET_TURN_TLS_DIR mount: %+v", tcfg.TLSCert, tcfg.TLSKey, turn.Volumes)
	}
	if volumeAt(turn, "/data") == "" {
		t.Error("turn: the overlay lost the data volume")
	}
	_, turnPort, _ := net.SplitHostPort(tcfg.TurnListen)
	_, tlsPort, _ := net.SplitHostPort(tcfg.TurnTLSListen)
	for _, name := range []string{"duet1", "duet2", "duet3"} {
		s := p.Services[name]
		cfg := duetConfig(t, name, s.Command, s.Environment)
		checkAdvertised(t, name, cfg, "turn.example.com", turnPort, tlsPort)
		if cfg.NATSURL == "" || cfg.TurnSecretFile == "" {
			t.Errorf("%s: the overlay lost the node's other settings", name)
		}
	}
}

// checkAdvertised: cfg advertises STUN and TURN over UDP and TCP at
// host:port, and TURN over TLS at host:tlsPort exactly when tlsPort is set.
func checkAdvertised(t *testing.T, name string, cfg config.Config, host, port, tlsPort string) {
	t.Helper()
	want := []string{"turn:" + host + ":" + port + "?transport=udp", "turn:" + host + ":" + port + "?transport=tcp"}
	if tlsPort != "" {
		want = append(want, "turns:"+host+":"+tlsPort+"?transport=tcp")
	}
	if strings.Join(cfg.TurnURIs, ",") != strings.Join(want, ",") || cfg.StunURI != "stun:"+host+":"+port {
		t.Errorf("%s: advertises %s and %v, want stun:%s:%s and %v", name, cfg.StunURI, cfg.TurnURIs, host, port, want)
	}
}

// volumeAt is the named volume mounted at dir in s ("" for none).
func volumeAt(s types.ServiceConfig, dir string) string {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Target == dir {
			return v.Source
		}
	}
	return ""
}
