package ops

import (
	"log/slog"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/push"
	"github.com/duet-rtc/duet/server"
)

// setupPush starts the push service that the push_* settings configure
// and hands it to the server.
func (x *Ops) setupPush(cfg config.Config, o Options, node string, log *slog.Logger, opts *server.Options) error {
	po := push.Options{
		FCMCredentials: cfg.PushFCMCredentials, FCMEndpoint: cfg.PushFCMEndpoint, CAFile: cfg.PushCAFile,
		Rate: cfg.PushRate, Burst: cfg.PushBurst, MaxRegistrations: cfg.PushMaxRegistrations,
		Node: node, Registerer: o.Registry, Logger: log.With("component", "push"),
	}
	if cfg.PushAPNsKeyFile != "" {
		po.APNs = &push.APNsConfig{KeyFile: cfg.PushAPNsKeyFile, KeyID: cfg.PushAPNsKeyID, TeamID: cfg.PushAPNsTeamID,
			Topic: cfg.PushAPNsTopic, PushType: cfg.PushAPNsPushType, Endpoint: cfg.PushAPNsEndpoint}
	}
	if cfg.TokenSecret != "" || cfg.TokenKeyFile != "" {
		if o.Subscribers == nil {
			return errNoIdentities
		}
		po.Identities = o.Subscribers
	} else {
		log.Warn("push notifications without room tokens: anyone may register a device for any subscriberId and send to it; set token_secret to bind registrations to who sends them")
	}
	if g, ok := opts.Rooms.(hub.Gatherer); ok {
		po.Gatherer = g
	}
	if x.webhooks != nil {
		po.Events = x.webhooks
	}
	svc, err := push.New(po)
	if err != nil {
		return err
	}
	x.push = svc
	opts.Push = svc
	log.Info("push notifications on", "fcm", cfg.PushFCMCredentials != "", "apns", cfg.PushAPNsKeyFile != "", "tokens", po.Identities != nil)
	return nil
}
