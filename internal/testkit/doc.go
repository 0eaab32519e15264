// Package testkit holds duet's test helpers, apart from the production
// packages under internal/: testserver (a real server on a :0 port),
// wstest (a WebSocket test client), tcpproxy (a TCP relay that can cut or
// freeze connections), browsertest (headless Chromium), netlab (network
// namespaces with two uplinks), fakeclock (a manual clock for timers),
// syncbuf (a buffer a process writes while a test reads), mobilepeer (a
// pion peer that behaves on the wire as the Ant Media iOS or Android SDK
// does around a call), fakepush (fake FCM and APNs servers), hookrecv (a
// webhook receiver that verifies signatures) and opsnodes (nodes with the
// admin API and webhooks on, clustered or not). Only tests import them.
package testkit
