package main

import (
	"io"
	"os"
	"strings"

	"github.com/skip2/go-qrcode"
	"golang.org/x/term"
)

// printQR draws url as a QR code with half blocks, two modules a character
// cell high, for a phone's camera to open, when w is a terminal (logs and
// pipes get the URL only).
func printQR(w io.Writer, url string) {
	if f, ok := w.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		return
	}
	io.WriteString(w, "\n  or point the phone's camera at:\n"+renderQR(url))
}

// renderQR draws the code dark on light, as a terminal with a dark
// background shows it: a space is a dark module here, a block a light one.
func renderQR(url string) string {
	q, err := qrcode.New(url, qrcode.Low)
	if err != nil {
		return ""
	}
	bits := q.Bitmap() // with its quiet zone; true is dark
	var b strings.Builder
	for y := 0; y < len(bits); y += 2 {
		b.WriteString("  ")
		for x := range bits[y] {
			top := !bits[y][x]
			bottom := y+1 < len(bits) && !bits[y+1][x]
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
