// Package config reads ssld's configuration file: YAML, TOML or my.cnf-style
// INI (chosen by extension) through viper, with SSLD_<KEY> environment
// overrides, defaults, bounds on the file's size and shape, and errors that
// name the setting, the file and the line. Load reads it once; Source is the
// tlsctx.Source that rereads it on every reload and warns about start-up-only
// keys that changed. The dev state folder (`ssld serve --dev`) and the
// daemon's logger settings are here too. Keys are documented in
// docs/configuration.md.
package config
