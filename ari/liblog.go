package ari

import (
	"github.com/CyCoreSystems/ari/v5"
	"github.com/inconshreveable/log15"
	"github.com/rs/zerolog"
)

// routeLibraryLogs sends ari/v5's log15 output (it logs, at debug level,
// channel snapshots whose creation time it cannot read) to log at debug
// level. The native client's logger is not touched: textback does not use
// that client.
func routeLibraryLogs(log zerolog.Logger) {
	ari.Logger.SetHandler(log15.FuncHandler(func(r *log15.Record) error {
		ev := log.Debug().Str("lib", "ari/v5")
		for i := 0; i+1 < len(r.Ctx); i += 2 {
			k, ok := r.Ctx[i].(string)
			if !ok {
				continue
			}
			if err, ok := r.Ctx[i+1].(error); ok {
				// eris errors print as {} through Interface
				ev = ev.AnErr(k, err)
			} else {
				ev = ev.Interface(k, r.Ctx[i+1])
			}
		}
		ev.Msg(r.Msg)
		return nil
	}))
}
