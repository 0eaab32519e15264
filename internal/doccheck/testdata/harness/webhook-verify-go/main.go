// Harness of the README's Go webhook verification: verify (the example)
// must accept every real delivery of a duet server, and refuse each one
// with its body changed or checked with another secret.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// What the example may use.
var (
	_ = hmac.New
	_ = sha256.New
	_ = hex.EncodeToString
	_ = strconv.ParseInt
	_ = time.Now
)

//snippet:here

func main() {
	data, err := os.ReadFile(os.Getenv("DUET_DOC_DELIVERIES"))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	var in struct {
		Secret     string
		Deliveries []struct {
			Headers map[string][]string
			Body    string
		}
	}
	if err := json.Unmarshal(data, &in); err != nil || len(in.Deliveries) == 0 {
		fmt.Println("no deliveries:", err)
		os.Exit(1)
	}
	for _, d := range in.Deliveries {
		r := &http.Request{Header: http.Header(d.Headers)}
		if !verify([]byte(in.Secret), r, []byte(d.Body)) {
			fmt.Println("a real delivery was refused:", d.Body)
			os.Exit(1)
		}
		if verify([]byte(in.Secret), r, []byte(strings.Replace(d.Body, `"app"`, `"App"`, 1))) {
			fmt.Println("a tampered delivery was accepted")
			os.Exit(1)
		}
		if verify([]byte("another-secret-0123456789"), r, []byte(d.Body)) {
			fmt.Println("a delivery checked with another secret was accepted")
			os.Exit(1)
		}
	}
	fmt.Printf("%d real deliveries verified; tampered ones and another secret refused\n", len(in.Deliveries))
}
