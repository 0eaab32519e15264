package protocol_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/duet-rtc/duet/protocol"
)

// TestOwnKeepsNothingBorrowed decodes a message that sets every field of
// Message without copying, calls Own, overwrites the frame, and checks
// that every field still reads what was sent: a field added to Message
// and forgotten in Own would read the overwritten bytes (issue #20).
func TestOwnKeepsNothingBorrowed(t *testing.T) {
	obj := map[string]any{}
	typ := reflect.TypeFor[protocol.Message]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case f.Type == reflect.TypeFor[protocol.Label]():
			obj[name] = 3
		case f.Type == reflect.TypeFor[json.RawMessage]():
			obj[name] = "data-of-" + name // a string: the fast decoder takes no other
		case f.Type.Kind() == reflect.String:
			obj[name] = "value-of-" + name
		case f.Type.Kind() == reflect.Bool:
			obj[name] = true
		case f.Type.Kind() == reflect.Int:
			obj[name] = 4 // a number is no string: nothing to own
		default:
			t.Fatalf("field %s has type %s: teach this test (and Own) about it", f.Name, f.Type)
		}
	}

	obj["command"] = "join"
	frame, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	want, err := protocol.Decode(bytes.Clone(frame))
	if err != nil {
		t.Fatal(err)
	}
	var m protocol.Message
	if err := protocol.DecodeBorrowed(frame, &m); err != nil {
		t.Fatal(err)
	}
	m.Own()
	for i := range frame {
		frame[i] = 0xA5
	}
	if !reflect.DeepEqual(&m, want) {
		t.Fatalf("after Own and the frame overwritten:\n got %+v\nwant %+v", m, *want)
	}
}
