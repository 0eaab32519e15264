// Package e2e holds duet's end-to-end tests: real Chromium and Firefox on
// the demo page and the SDKs (duet.js, Ant Media's browser SDK, the Go
// SDK) against real servers, single and clustered, through network
// namespaces with NATs, lost uplinks and restarts. It has no code of its
// own: the web package is only the embedded assets, and these tests use it
// as the server does.
//
// js/ holds the npm packages the tests load (Ant Media's SDK,
// puppeteer-core for Firefox, TypeScript and esbuild for the package
// test); `make deps` installs them.
package e2e
