package push

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Webhook events of pushes, signed and delivered like the room events
// (package webhook). No device token is ever in one.

// Base is what every push event carries.
type Base struct {
	ID    string    `json:"id"`    // unique per event: deduplicate on it
	Event string    `json:"event"` // push_registered or push_sent
	Time  time.Time `json:"time"`
	Node  string    `json:"node"`
	App   string    `json:"app"`
}

// Registered is push_registered: a device was registered for a
// subscriber.
type Registered struct {
	Base
	Subscriber string `json:"subscriberId"`
	Type       string `json:"pnsType"`
}

// Sent is push_sent: a sendPushNotification was delivered as far as it
// could be.
type Sent struct {
	Base
	Sender     string         `json:"subscriberId"`
	Recipients []string       `json:"subscriberIdsToNotify,omitempty"`
	Topic      string         `json:"topic,omitempty"`
	Delivered  int            `json:"delivered"`
	Failed     int            `json:"failed"`
	Devices    []DeviceResult `json:"devices"`
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
