package tlsrec

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestOpenSSLClient: OpenSSL's s_client, another implementation, talks to
// a taken-over server in each TLS 1.3 suite (crypto/tls between two Go
// ends always picks AES-128-GCM), and asks for a KeyUpdate midway ("K"),
// which the record layer must answer in a way OpenSSL accepts.
func TestOpenSSLClient(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed (Debian package openssl; scripts/deps.sh installs it)")
	}
	for _, suite := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256} {
		name := tls.CipherSuiteName(suite)
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := make(chan string, 1)
			go func() {
				got <- echoServer(t, ln)
			}()
			cmd := exec.Command("openssl", "s_client", "-connect", ln.Addr().String(), "-tls1_3",
				"-ciphersuites", name, "-servername", "example.test")
			in, _ := cmd.StdinPipe()
			out, _ := cmd.StdoutPipe()
			cmd.Stderr = cmd.Stdout // s_client says KEYUPDATE on stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			lines := make(chan string, 100)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			wait := func(want string) {
				t.Helper()
				timeout := time.After(10 * time.Second)
				for {
					select {
					case l, ok := <-lines:
						if !ok {
							t.Fatalf("s_client ended before %q", want)
						}
						if l == want {
							return
						}
					case <-timeout:
						t.Fatalf("no %q from s_client", want)
					}
				}
			}
			io.WriteString(in, "GET\n")
			wait("101")
			io.WriteString(in, "before\n")
			wait("echo before")
			io.WriteString(in, "K\n") // KeyUpdate, and ask for ours
			wait("KEYUPDATE")         // s_client drops the rest of a read that began with K
			io.WriteString(in, "after\n")
			wait("echo after")
			io.WriteString(in, "Q\n")
			in.Close()
			cmd.Wait()
			if s := <-got; s != name+" before after " {
				t.Fatalf("server: %q", s)
			}
		})
	}
}

// echoServer serves one connection: the "GET" line through crypto/tls,
// then, taken over, "echo LINE" for every line until the client ends. It
// returns the suite and the lines.
func echoServer(t *testing.T, ln net.Listener) string {
	raw, err := ln.Accept()
	if err != nil {
		return err.Error()
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(20 * time.Second))
	tc := tls.Server(NewWatch(raw), ServerConfig(serverConf(t)))
	br := bufio.NewReader(tc)
	if l, err := br.ReadString('\n'); err != nil || l != "GET\n" {
		return "request " + l
	}
	io.WriteString(tc, "101\n")
	if br.Buffered() > 0 {
		return "client spoke early"
	}
	c, early, err := TakeOver(tc, NewPool())
	if err != nil || len(early) > 0 {
		return "take-over failed"
	}
	seen := tls.CipherSuiteName(tc.ConnectionState().CipherSuite) + " "
	r := bufio.NewReader(c)
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return seen
		}
		l = strings.TrimSuffix(l, "\n")
		seen += l + " "
		io.WriteString(c, "echo "+l+"\n")
	}
}
