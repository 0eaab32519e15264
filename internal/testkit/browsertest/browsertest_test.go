package browsertest

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestFakeMedia checks that the browser starts and that getUserMedia gives a
// fake camera track, which every call test depends on.
func TestFakeMedia(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><script>
window.tracks = -1;
navigator.mediaDevices.getUserMedia({video:true,audio:true}).then(s => window.tracks = s.getTracks().length, e => window.tracks = String(e));
</script>`))
	}))
	defer srv.Close()
	tab := NewTab(t, Browser(t))
	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	WaitJS(t, tab, "window.tracks === 2", 20*time.Second, "String(window.tracks)")
}
