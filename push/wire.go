package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/duet-rtc/duet/protocol"
)

// The commands as Ant Media's SDKs send them (Android WebSocketHandler,
// JS webrtc_adaptor):
//
//	{"command":"registerPushNotificationToken","subscriberId":…,"token":<auth token>,
//	 "pnsRegistrationToken":<FCM or APNs device token>,"pnsType":"fcm"|"apn"}
//	{"command":"sendPushNotification","subscriberId":…,"token":<auth token>,
//	 "pushNotificationContent":{…},"subscriberIdsToNotify":[…]}
//
// and the JS SDK's sendPushNotificationToTopic, which sends "topic" in
// place of subscriberIdsToNotify (the Android constants name it
// "pushNotificationTopic": both are read). Each is answered with
//
//	{"command":"notification","success":true|false,"definition":…,"information":…}

// Limits of a request.
const (
	maxSubscriberLen = 256
	maxDeviceToken   = 4096
	maxContentBytes  = 4096 // what FCM and APNs take in a payload
	maxRecipients    = 20
	maxTopicLen      = 256
)

// Service types, as pnsType names them.
const (
	TypeFCM  = "fcm"
	TypeAPNs = "apn"
)

// errRequest is a request that does not hold what it must; its text is
// the answer's information.
type errRequest string

func (e errRequest) Error() string { return string(e) }

// registerReq is a registerPushNotificationToken.
type registerReq struct {
	Subscriber string `json:"subscriberId"`
	Token      string `json:"token"`
	Device     string `json:"pnsRegistrationToken"`
	Type       string `json:"pnsType"`
}

// sendReq is a sendPushNotification.
type sendReq struct {
	Subscriber string          `json:"subscriberId"`
	Token      string          `json:"token"`
	Content    json.RawMessage `json:"pushNotificationContent"`
	To         []string        `json:"subscriberIdsToNotify"`
	Topic      string          `json:"topic"`
	TopicAlt   string          `json:"pushNotificationTopic"`
}

func decodeRegister(frame []byte) (registerReq, error) {
	var r registerReq
	if err := json.Unmarshal(frame, &r); err != nil {
		return r, errRequest("a field has the wrong type")
	}
	switch {
	case !validSubscriber(r.Subscriber):
		return r, errRequest("subscriberId is missing or invalid")
	case r.Type != TypeFCM && r.Type != TypeAPNs:
		return r, errRequest(`pnsType must be "fcm" or "apn"`)
	case !validDevice(r.Type, r.Device):
		return r, errRequest("pnsRegistrationToken is missing or invalid")
	}
	return r, nil
}

func decodeSend(frame []byte) (sendReq, error) {
	var r sendReq
	if err := json.Unmarshal(frame, &r); err != nil {
		return r, errRequest("a field has the wrong type")
	}
	if r.Topic == "" {
		r.Topic = r.TopicAlt
	}
	switch {
	case !validSubscriber(r.Subscriber):
		return r, errRequest("subscriberId is missing or invalid")
	case len(r.Content) == 0 || r.Content[0] != '{':
		return r, errRequest("pushNotificationContent must be a JSON object")
	case len(r.Content) > maxContentBytes:
		return r, errRequest("pushNotificationContent is over " + strconv.Itoa(maxContentBytes) + " bytes")
	case len(r.To) == 0 && r.Topic == "":
		return r, errRequest("subscriberIdsToNotify is missing or empty")
	case len(r.To) > maxRecipients:
		return r, errRequest("subscriberIdsToNotify names more than " + strconv.Itoa(maxRecipients))
	case r.Topic != "" && !validTopic(r.Topic):
		return r, errRequest("topic is invalid")
	}
	for _, id := range r.To {
		if !validSubscriber(id) {
			return r, errRequest("subscriberIdsToNotify holds an invalid id")
		}
	}
	r.Content = bytes.Clone(r.Content)
	return r, nil
}

func validSubscriber(s string) bool {
	if s == "" || len(s) > maxSubscriberLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// validDevice checks a device token. An APNs token goes into a URL path:
// hex only. An FCM token goes into a JSON body; it is base64url with
// colons.
func validDevice(typ, s string) bool {
	if s == "" || len(s) > maxDeviceToken {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		hex := c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
		if typ == TypeAPNs && !hex || typ == TypeFCM && !(hex || c >= 'g' && c <= 'z' || c >= 'G' && c <= 'Z' || c == '_' || c == '-' || c == ':') {
			return false
		}
	}
	return true
}

// validTopic is FCM's topic name pattern, [a-zA-Z0-9-_.~%]+.
func validTopic(s string) bool {
	if len(s) > maxTopicLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '%') {
			return false
		}
	}
	return s != ""
}

// Answer definitions. A success is named by its command; the failures
// are the Ant Media SDKs' own definitions where one fits.
const (
	defMissing      = protocol.ErrMissingParameter // the request lacks a field or has a bad one
	defTokenInvalid = protocol.ErrTokenNotValid    // the token does not prove the subscriberId
	defRateLimited  = protocol.ErrRateLimited      // over push_rate for this sender
	defBusy         = protocol.ErrHighResourceUsage
	defNotDelivered = "pushNotificationNotDelivered" // no device of any recipient took it
)

// answer encodes the notification that answers a push command. Counts
// are duet's additions (delivered and failed devices).
func answer(success bool, definition, information string, counts *[2]int) []byte {
	b := append([]byte(nil), `{"command":"notification","success":`...)
	b = strconv.AppendBool(b, success)
	b = append(b, `,"definition":`...)
	b = protocol.AppendString(b, definition)
	b = append(b, `,"information":`...)
	b = protocol.AppendString(b, information)
	if counts != nil {
		b = append(b, `,"delivered":`...)
		b = strconv.AppendInt(b, int64(counts[0]), 10)
		b = append(b, `,"failed":`...)
		b = strconv.AppendInt(b, int64(counts[1]), 10)
	}
	return append(b, '}')
}

var errNotConfigured = errors.New("push: neither FCM nor APNs is configured")
