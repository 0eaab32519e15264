package ws

import "unicode/utf8"

func utf8Valid(p []byte) bool { return utf8.Valid(p) }
