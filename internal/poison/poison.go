// Package poison is a test build mode that makes a kept loan fail loudly.
// Bytes decoded zero-copy from a socket's read buffer, or encoded into a
// pooled buffer, are lent to the code that handles one message; built
// with the duetpoison tag, every such buffer is overwritten as soon as its
// message is handled, so that anything that kept a piece of it (a room
// name, a frame) reads garbage at once instead of, now and then, another
// client's bytes. Without the tag Fill does nothing and costs nothing.
package poison

// Byte is what a poisoned buffer is filled with: not valid UTF-8, and not
// a character of any room name or JSON structure.
const Byte = 0xA5
