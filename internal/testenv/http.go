package testenv

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// httpClient is the client of HTTPGet and ScrapeMetrics: 5 s at the most.
var httpClient = &http.Client{Timeout: 5 * time.Second}

// HTTPGet GETs url (a node's /metrics, /healthz or /livez) and returns the
// status code and the body; a failed request fails tb.
func HTTPGet(tb testing.TB, url string) (int, string) {
	tb.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}
