// Package testkit holds duet's test helpers, apart from the production
// packages under internal/: testserver (a real server on a :0 port),
// wstest (a WebSocket test client), tcpproxy (a TCP relay that can cut or
// freeze connections) and browsertest (headless Chromium). Only tests
// import them.
package testkit
