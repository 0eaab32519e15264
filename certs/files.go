package certs

import (
	"crypto/tls"
	"log/slog"
	"os"
	"sync"
	"time"
)

// recheck is how often a file certificate's files are looked at again.
const recheck = time.Second

// fileCert serves a certificate from PEM files and reads them again when
// their size or modification time changes, so that a renewed certificate
// (certbot, a Kubernetes Secret updated by cert-manager) is served without a
// restart. A pair that does not load (the key written before the
// certificate) is logged and the previous one kept.
type fileCert struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp
	checked time.Time
}

type fileStamp struct {
	size int64
	mod  time.Time
}

func stampOf(name string) fileStamp {
	fi, err := os.Stat(name)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi.Size(), fi.ModTime()}
}

func loadFileCert(certFile, keyFile string, log *slog.Logger) (*fileCert, error) {
	WarnIfShared(keyFile, log)
	f := &fileCert{certFile: certFile, keyFile: keyFile, log: log}
	f.stamp = [2]fileStamp{stampOf(certFile), stampOf(keyFile)}
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	f.cert, f.checked = &c, time.Now()
	return f, nil
}

// GetCertificate fits tls.Config.GetCertificate.
func (f *fileCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if time.Since(f.checked) < recheck {
		return f.cert, nil
	}
	f.checked = time.Now()
	stamp := [2]fileStamp{stampOf(f.certFile), stampOf(f.keyFile)}
	if stamp == f.stamp {
		return f.cert, nil
	}
	c, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		// Try again at the next check: the other file may be on its way.
		f.log.Warn("TLS certificate files changed but do not load; serving the previous certificate",
			"cert", f.certFile, "key", f.keyFile, "err", err)
		return f.cert, nil
	}
	f.stamp, f.cert = stamp, &c
	f.log.Info("TLS certificate reloaded", "cert", f.certFile)
	return f.cert, nil
}
