// Command docgen prints the configuration table of README.md from the Config
// struct: go run ./internal/docgen
package main

import (
	"fmt"

	"github.com/duet-rtc/duet/config"
)

func main() {
	fmt.Println("| YAML key | flag | environment | default | meaning |")
	fmt.Println("|---|---|---|---|---|")
	for _, s := range config.Describe() {
		d := s.Default
		if d == "" {
			d = "(empty)"
		}
		fmt.Printf("| `%s` | `%s` | `%s` | `%s` | %s |\n", s.Key, s.Flag, s.Env, d, s.Help)
	}
}
