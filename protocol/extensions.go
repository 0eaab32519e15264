package protocol

// Commands of duet's quality reports (docs/protocol.md, "Call quality"):
// duet's SDKs send qualityReport while a call is up; the server sends the
// partner quality. The Ant Media SDKs send neither and get neither.
const (
	CmdQualityReport = "qualityReport"
	CmdQuality       = "quality"
)

// The Ant Media push commands (its 2.9 release; the Android SDK's
// WebSocketConstants, the JS SDK's webrtc_adaptor). They are answered with
// a notification that carries success, definition and information.
const (
	CmdRegisterPush = "registerPushNotificationToken"
	CmdSendPush     = "sendPushNotification"
)
