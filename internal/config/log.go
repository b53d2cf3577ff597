package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// NewLogger builds the daemon's logger; level and format are log_level and
// log_format (or the flags that override them).
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, &logSettingErr{key: "log_level", value: level, want: "debug, info, warn or error"}
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, &logSettingErr{key: "log_format", value: format, want: "text or json"}
}

// logSettingErr is NewLogger's error: a log_level or log_format value it
// does not know.
type logSettingErr struct{ key, value, want string }

func (e *logSettingErr) Error() string {
	return fmt.Sprintf("%s %q: want %s", e.key, e.value, e.want)
}

// LogSettingError names where the bad value of a NewLogger error came
// from: the flag when it was given, else the config file.
func LogSettingError(err error, path, levelFlag, formatFlag string) error {
	var le *logSettingErr
	if !errors.As(err, &le) {
		return err
	}
	flag := map[string]string{"log_level": levelFlag, "log_format": formatFlag}[le.key]
	if flag != "" {
		return fmt.Errorf("--%s %q: want %s", strings.ReplaceAll(le.key, "_", "-"), le.value, le.want)
	}
	return fmt.Errorf("%s: %v", SettingSource(path, le.key), err)
}
