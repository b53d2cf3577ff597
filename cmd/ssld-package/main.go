// Command ssld-package builds the ssld .deb and .rpm with nfpm (as a
// library, no nfpm binary) from deploy/package/nfpm.yaml and a built ssld
// binary. scripts/package runs it; by hand:
//
//	go run ./cmd/ssld-package --binary dist/build/ssld --version 0.1.0 --out dist
//
// It runs the binary (so --arch must be the machine's own) to generate the
// man pages (`ssld man`) and the bash completion (`ssld completion bash`)
// from the commands themselves, rewrites the unit's /usr/local/bin/ssld to
// the package's /usr/bin/ssld, and writes ssld_<version>_<arch>.deb and
// ssld-<version>.<arch>.rpm into --out.
package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// Architecture names per format, by GOARCH.
var (
	debArch = map[string]string{"amd64": "amd64", "arm64": "arm64"}
	rpmArch = map[string]string{"amd64": "x86_64", "arm64": "aarch64"}
)

// versionPattern is what VERSION may hold: a Debian and RPM safe version.
var versionPattern = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(~[0-9A-Za-z.]+)?$`)

// The paths the repository's unit and the package's unit name the binary at.
const (
	repoBinary    = "/usr/local/bin/ssld"
	packageBinary = "/usr/bin/ssld"
)

type options struct {
	binary, version, arch, out, root, date string
}

func main() {
	var o options
	flag.StringVar(&o.binary, "binary", "", "the ssld binary to package (built for --arch)")
	flag.StringVar(&o.version, "version", "", "the package version (the VERSION file)")
	flag.StringVar(&o.arch, "arch", runtime.GOARCH, "GOARCH the binary is built for: amd64 or arm64 (the machine's own: the binary is run)")
	flag.StringVar(&o.out, "out", "dist", "folder the packages are written to")
	flag.StringVar(&o.root, "root", ".", "the repository root (deploy/package/nfpm.yaml and the files it names)")
	flag.StringVar(&o.date, "date", "", "RFC 3339 time of the files in the packages and of the changelog (default: SOURCE_DATE_EPOCH, else now)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "ssld-package: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	paths, err := build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ssld-package:", err)
		os.Exit(1)
	}
	for _, p := range paths {
		fmt.Println(p)
	}
}

// build writes the packages and returns their paths.
func build(o options) ([]string, error) {
	if o.binary == "" || o.version == "" {
		return nil, errors.New("--binary and --version are required")
	}
	if !versionPattern.MatchString(o.version) {
		return nil, fmt.Errorf("--version %q: want MAJOR.MINOR.PATCH, optionally ~PRERELEASE", o.version)
	}
	if debArch[o.arch] == "" {
		return nil, fmt.Errorf("--arch %q: want amd64 or arm64", o.arch)
	}
	if o.arch != runtime.GOARCH {
		return nil, fmt.Errorf("--arch %s: this machine is %s, and the binary is run to generate the man pages and the completion", o.arch, runtime.GOARCH)
	}
	mtime, err := packageTime(o.date)
	if err != nil {
		return nil, err
	}
	root, err := filepath.Abs(o.root)
	if err != nil {
		return nil, err
	}
	binary, err := filepath.Abs(o.binary)
	if err != nil {
		return nil, err
	}
	out, err := filepath.Abs(o.out)
	if err != nil {
		return nil, err
	}
	gen, err := os.MkdirTemp("", "ssld-package")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(gen)
	if err := generate(root, binary, gen, o.version, mtime); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}

	// nfpm resolves relative sources against the working directory.
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	if err := os.Chdir(root); err != nil {
		return nil, err
	}
	defer os.Chdir(wd) //nolint:errcheck // best effort, the process ends next
	vars := map[string]string{"SSLD_VERSION": o.version, "SSLD_ARCH": o.arch, "SSLD_BINARY": binary, "SSLD_GEN": gen}
	cfg, err := nfpm.ParseFileWithEnvMapping(filepath.Join("deploy", "package", "nfpm.yaml"), func(k string) string { return vars[k] })
	if err != nil {
		return nil, fmt.Errorf("deploy/package/nfpm.yaml: %w", err)
	}
	var paths []string
	for _, format := range []string{"deb", "rpm"} {
		name := fmt.Sprintf("ssld_%s_%s.deb", o.version, debArch[o.arch])
		if format == "rpm" {
			name = fmt.Sprintf("ssld-%s.%s.rpm", o.version, rpmArch[o.arch])
		}
		p := filepath.Join(out, name)
		if err := pack(cfg, format, mtime, p); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// pack writes the package of format to path (through a temporary file, so
// a failure leaves no partial package behind).
func pack(cfg nfpm.Config, format string, mtime time.Time, path string) error {
	info, err := cfg.Get(format)
	if err != nil {
		return err
	}
	info.MTime = mtime
	info.Target = path
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return err
	}
	pkgr, err := nfpm.Get(format)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ssld-package-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := pkgr.Package(info, tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// packageTime is the time of every file in the packages: --date, else
// SOURCE_DATE_EPOCH (reproducible builds), else now.
func packageTime(date string) (time.Time, error) {
	if date != "" {
		t, err := time.Parse(time.RFC3339, date)
		if err != nil {
			return time.Time{}, fmt.Errorf("--date %q: want RFC 3339", date)
		}
		return t.UTC(), nil
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var sec int64
		if _, err := fmt.Sscan(s, &sec); err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds", s)
		}
		return time.Unix(sec, 0).UTC(), nil
	}
	return time.Now().UTC().Truncate(time.Second), nil
}

// generate fills gen with what the packages hold that the repository does
// not: the unit with the package's binary path, the man pages and the
// bash completion (from the binary's own commands) and the changelog.
func generate(root, binary, gen, version string, mtime time.Time) error {
	unit, err := os.ReadFile(filepath.Join(root, "deploy", "systemd", "ssld.service"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(gen, "ssld.service"), packageUnit(unit), 0o644); err != nil {
		return err
	}

	out, err := exec.Command(binary, "version").Output()
	if err != nil {
		return fmt.Errorf("%s version: %w", binary, err)
	}
	if first, _, _ := strings.Cut(string(out), "\n"); first != "ssld "+version {
		return fmt.Errorf("%s reports %q, not ssld %s: build it with -ldflags \"-X main.buildVersion=%s\"", binary, first, version, version)
	}

	var completion bytes.Buffer
	cmd := exec.Command(binary, "completion", "bash")
	cmd.Stdout = &completion
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s completion bash: %w", binary, err)
	}
	if err := os.WriteFile(filepath.Join(gen, "completion.bash"), completion.Bytes(), 0o644); err != nil {
		return err
	}

	man := filepath.Join(gen, "man-src")
	cmd = exec.Command(binary, "man", man, "--date", mtime.Format(time.RFC3339))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s man: %w", binary, err)
	}
	pages, err := filepath.Glob(filepath.Join(man, "*.1"))
	if err != nil || len(pages) == 0 {
		return fmt.Errorf("%s man wrote no page (%v)", binary, err)
	}
	if err := os.Mkdir(filepath.Join(gen, "man"), 0o755); err != nil {
		return err
	}
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := writeGzip(filepath.Join(gen, "man", filepath.Base(p)+".gz"), b); err != nil {
			return err
		}
	}

	changelog := fmt.Sprintf("ssld (%s) unstable; urgency=medium\n\n  * Release %s; the changes are in the source repository's history.\n\n -- ssld maintainers <ssld@users.noreply.github.com>  %s\n",
		version, version, mtime.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	return writeGzip(filepath.Join(gen, "changelog.gz"), []byte(changelog))
}

// packageUnit is the repository's unit with every /usr/local/bin/ssld (a
// source install's path, deploy/systemd/install) made /usr/bin/ssld.
func packageUnit(unit []byte) []byte {
	return bytes.ReplaceAll(unit, []byte(repoBinary), []byte(packageBinary))
}

// writeGzip writes b gzipped at the best compression with no file name
// and no time in the header, as Debian wants (gzip -9n).
func writeGzip(path string, b []byte) error {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := io.Copy(zw, bytes.NewReader(b)); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
