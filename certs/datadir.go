package certs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DataDir resolves and creates the directory duet keeps state in: dir when
// set; else $STATE_DIRECTORY, which systemd sets for StateDirectory= (the
// first one when it lists several); else duet under the user's config
// directory (~/.config/duet on Linux). It is created readable by its owner
// only.
func DataDir(dir string, getenv func(string) string) (string, error) {
	if dir == "" {
		if sd := getenv("STATE_DIRECTORY"); sd != "" {
			dir, _, _ = strings.Cut(sd, ":")
		}
	}
	if dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("data_dir is not set and there is no user config directory: %w", err)
		}
		dir = filepath.Join(base, "duet")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("data_dir: %w", err)
	}
	return dir, nil
}
