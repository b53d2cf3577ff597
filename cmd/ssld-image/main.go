// Command ssld-image builds ssld's container image from a static ssld
// binary, with no base image, no Docker daemon and no network: two layers
// (users and folders; /usr/bin/ssld), ssld as the entrypoint, a non-root
// user. The output is an OCI image layout archive, with docker save's
// manifest.json beside it, that `podman load` and `docker load` read, named
// NAME:VERSION. The same binary, flags and SOURCE_DATE_EPOCH give
// the same bytes.
//
//	CGO_ENABLED=0 go build -o dist/ssld ./cmd/ssld
//	go run ./cmd/ssld-image --binary dist/ssld --version 0.1.0 --out dist/ssld-0.1.0-oci.tar
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

func main() {
	if err := newCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "ssld-image:", err)
		os.Exit(1)
	}
}

func newCommand() *cobra.Command {
	var o options
	var out string
	cmd := &cobra.Command{
		Use:   "ssld-image --binary PATH --version V [--out FILE]",
		Short: "Build ssld's OCI image (podman load / docker load archive) from a static binary",
		Long: `Builds ssld's container image from a static (CGO_ENABLED=0) ssld binary, on no
base image: /usr/bin/ssld as the entrypoint with "serve --config /etc/ssld/ssld.yaml"
as its arguments, user ssld (uid and gid 65532, named in /etc/passwd and /etc/group),
/run/ssld writable by it for the Unix socket, ports 3307 and 9180 exposed, and the
org.opencontainers.image labels version, revision and source. Handshakes are signed
in Go (crypto_backend go): the image has no libcrypto.

The archive is an OCI image layout that also carries docker save's manifest.json
(as Docker 25 and later write it), named NAME:VERSION (localhost/ssld:VERSION by
default, the name podman gives a local image): podman load names the image from
index.json, docker load from manifest.json.
Timestamps are SOURCE_DATE_EPOCH when it is set, else 1970-01-01, so the same
inputs give the same bytes.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			created, err := createdTime()
			if err != nil {
				return err
			}
			o.created = created
			if o.binary == "" {
				return fmt.Errorf("--binary is required")
			}
			if out == "" {
				out = "dist/ssld-" + o.version + "-oci.tar"
			}
			img, err := build(o)
			if err != nil {
				return err
			}
			if err := write(o, img, out); err != nil {
				return err
			}
			d, err := img.ConfigName()
			if err != nil {
				return err
			}
			ref, _ := o.reference()
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s\n", out, ref.Name(), d)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.binary, "binary", "", "static ssld binary (CGO_ENABLED=0) for --arch")
	f.StringVar(&o.version, "version", "", "image version: its tag and the org.opencontainers.image.version label")
	f.StringVar(&o.arch, "arch", "amd64", "architecture (GOARCH) of the binary and the image")
	f.StringVar(&o.name, "name", "localhost/ssld", "repository the image is tagged in (NAME:VERSION)")
	f.StringVar(&out, "out", "", "archive to write (default dist/ssld-VERSION-oci.tar)")
	f.StringVar(&o.revision, "revision", "", "VCS revision label (default: the binary's vcs.revision when it was built from a clean tree)")
	f.StringVar(&o.source, "source", "", "source label (default: https:// + the binary's module path)")
	return cmd
}

// createdTime is SOURCE_DATE_EPOCH (reproducible-builds.org) or the epoch.
func createdTime() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: not a number of seconds since 1970", v)
	}
	return time.Unix(n, 0).UTC(), nil
}
