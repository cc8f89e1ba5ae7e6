package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/facefleet/facefleet/pkg/memory"
)

// Log formats: console is for people at a terminal, JSON for a pod's or a service's log collector.
const (
	formatAuto    = "auto"
	formatConsole = "console"
	formatJSON    = "json"
)

// errLogFlag is what a bad --log-level or --log-format wraps.
var errLogFlag = errors.New("bad log flag")

// logFlags are every daemon's logging choices, and `run`'s.
type logFlags struct {
	level, format string
	verbose       bool
}

// register adds --log-level, --log-format and -v to a command; def is the level without them: info for the
// daemons, "" for `run`, which then logs nothing: its live line, its warnings and its one error line are its
// report (its in-process workers' logs name scratch files and repeat that error line).
func (l *logFlags) register(f *pflag.FlagSet, def string) {
	usage := "log messages at this level and above: debug, info, warn or error"
	if def == "" {
		usage += " (default: no log, only the progress line and the result)"
	}
	f.StringVar(&l.level, "log-level", def, usage)
	f.StringVar(&l.format, "log-format", formatAuto, "log format on stderr: auto (console on a terminal, JSON otherwise), console or json")
	f.BoolVarP(&l.verbose, "verbose", "v", false, "log every step: the same as --log-level debug")
}

// logger builds the logger these flags ask for, writing to w (stderr).
func (l logFlags) logger(w io.Writer) (*zap.Logger, error) {
	f, _ := w.(*os.File)
	format, err := chooseFormat(l.format, f != nil && memory.IsTerminal(f))
	if err != nil {
		return nil, err
	}
	if l.level == "" && !l.verbose {
		return zap.NewNop(), nil
	}
	level := zapcore.DebugLevel
	if !l.verbose {
		if level, err = parseLevel(l.level); err != nil {
			return nil, err
		}
	}
	return newLogger(zapcore.AddSync(w), level, format), nil
}

// parseLevel reads --log-level; zap's own names are accepted but for dpanic, panic and fatal, which no daemon logs.
func parseLevel(s string) (zapcore.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return zapcore.DebugLevel, nil
	case "info":
		return zapcore.InfoLevel, nil
	case "warn", "warning":
		return zapcore.WarnLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error: %w", s, errLogFlag)
}

// chooseFormat resolves --log-format; auto is console on a terminal and JSON otherwise.
func chooseFormat(s string, terminal bool) (string, error) {
	switch f := strings.ToLower(strings.TrimSpace(s)); f {
	case formatAuto, "":
		if terminal {
			return formatConsole, nil
		}
		return formatJSON, nil
	case formatConsole, formatJSON:
		return f, nil
	}
	return "", fmt.Errorf("--log-format %q: want auto, console or json: %w", s, errLogFlag)
}

// newLogger writes level and above to w, with ISO8601 times in both formats (JSON's epoch floats are unreadable
// in `kubectl logs`). Errors and above carry a stack trace only at debug, where someone asked for everything.
func newLogger(w zapcore.WriteSyncer, level zapcore.Level, format string) *zap.Logger {
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if format == formatConsole {
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		enc = zapcore.NewJSONEncoder(ec)
	}
	opts := []zap.Option{zap.ErrorOutput(w)}
	if level == zapcore.DebugLevel {
		opts = append(opts, zap.AddCaller(), zap.AddStacktrace(zapcore.ErrorLevel))
	}
	return zap.New(zapcore.NewCore(enc, w, level), opts...)
}
