package turnserver

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogs sends pion's logs to slog at debug level: pion reports every
// malformed or unauthenticated packet as an error, and those come from the
// network, so at a higher level anyone could flood the log.
type pionLogs struct{ log *slog.Logger }

// NewLogger asks once whether debug logs are wanted: pion logs at debug
// for every relayed datagram, and duet's log level does not change while
// it runs.
func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	l := f.log.With("pion", scope)
	return pionLogger{l, l.Enabled(context.Background(), slog.LevelDebug)}
}

type pionLogger struct {
	log *slog.Logger
	on  bool
}

func (l pionLogger) emit(msg string) {
	if l.on {
		l.log.Debug(msg)
	}
}

func (l pionLogger) emitf(format string, a []any) {
	if l.on {
		l.log.Debug(fmt.Sprintf(format, a...))
	}
}

func (l pionLogger) Trace(string)                   {}
func (l pionLogger) Tracef(string, ...any)          {}
func (l pionLogger) Debug(msg string)               { l.emit(msg) }
func (l pionLogger) Debugf(format string, a ...any) { l.emitf(format, a) }
func (l pionLogger) Info(msg string)                { l.emit(msg) }
func (l pionLogger) Infof(format string, a ...any)  { l.emitf(format, a) }
func (l pionLogger) Warn(msg string)                { l.emit(msg) }
func (l pionLogger) Warnf(format string, a ...any)  { l.emitf(format, a) }
func (l pionLogger) Error(msg string)               { l.emit(msg) }
func (l pionLogger) Errorf(format string, a ...any) { l.emitf(format, a) }
