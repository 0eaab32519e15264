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

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) emit(msg string) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(msg)
	}
}

func (l pionLogger) emitf(format string, a []any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
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
