package metrics_test

import (
	"context"
	"log"
	"net/http"

	"github.com/ssld/ssld/metrics"
	"github.com/ssld/ssld/tlsctx"
)

// Example wires Metrics to a Manager. The observer must exist before the
// Manager and Metrics needs the Manager, so the observer closes over a
// variable that is set before the first Reload (New does not report its
// initial load).
func Example() {
	ctx := context.Background()
	src := tlsctx.StaticSource(tlsctx.Settings{SSLCert: "/etc/ssld/server.crt", SSLKey: "/etc/ssld/server.key"})

	var met *metrics.Metrics
	mgr, err := tlsctx.New(ctx, src, tlsctx.WithObserver(func(ev tlsctx.ReloadEvent) { met.ObserveReload(ev) }))
	if err != nil {
		log.Print(err)
		return
	}
	met = metrics.New(mgr)

	// In the accept loop: met.ConnOpened("client"), then
	// met.HandshakeOK("client") or met.HandshakeFailed("client"), and
	// met.ConnClosed("client") when the connection ends.
	go func() { log.Print(http.ListenAndServe("127.0.0.1:9180", met.Handler())) }()
}
