package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The archive is an OCI image layout (oci-layout, index.json, blobs/sha256/)
// that also carries the manifest.json of `docker save`, pointing at the
// same blobs: the layout Docker itself has written since version 25. podman
// load reads it as an OCI archive and names the image from index.json's
// annotations; docker load and other docker-archive readers use
// manifest.json's RepoTags.

// Annotations that name the image in index.json: the full name for
// podman, containerd and Docker, the tag alone as the OCI layout spec has
// it.
const (
	annotationImageName = "io.containerd.image.name"
	annotationRefName   = "org.opencontainers.image.ref.name"
)

// write saves img, named by o's reference, as the archive out (written to a
// temporary file in out's folder, created if missing, then renamed over
// it).
func write(o options, img v1.Image, out string) error {
	ref, err := o.reference()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := writeArchive(&buf, img, ref.Name(), ref.TagStr(), o); err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".ssld-image-*")
	if err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(buf.Bytes())
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	if err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	return nil
}

// writeArchive writes the tar: blobs (sorted by digest), index.json,
// manifest.json and oci-layout, each entry's time o.created.
func writeArchive(w io.Writer, img v1.Image, fullName, tag string, o options) error {
	blobs := map[string][]byte{}
	add := func(d v1.Hash, b []byte) string {
		blobs[d.Hex] = b
		return "blobs/sha256/" + d.Hex
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	docker := tarball.Descriptor{Config: add(cfgName, cfg), RepoTags: []string{fullName}}
	add(digest, manifest)
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		docker.Layers = append(docker.Layers, add(d, b))
	}
	index, err := json.Marshal(v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType:   types.OCIManifestSchema1,
			Size:        int64(len(manifest)),
			Digest:      digest,
			Annotations: map[string]string{annotationImageName: fullName, annotationRefName: tag},
			Platform:    &v1.Platform{OS: "linux", Architecture: o.arch},
		}},
	})
	if err != nil {
		return err
	}
	dockerManifest, err := json.Marshal(tarball.Manifest{docker})
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	entry := func(name string, body []byte) error {
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: o.created, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if body == nil {
			h.Mode, h.Typeflag = 0o755, tar.TypeDir
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	if err := entry("blobs/", nil); err != nil {
		return err
	}
	if err := entry("blobs/sha256/", nil); err != nil {
		return err
	}
	hexes := make([]string, 0, len(blobs))
	for h := range blobs {
		hexes = append(hexes, h)
	}
	slices.Sort(hexes)
	for _, h := range hexes {
		if err := entry("blobs/sha256/"+h, blobs[h]); err != nil {
			return err
		}
	}
	for _, e := range []struct {
		name string
		body []byte
	}{
		{"index.json", index},
		{"manifest.json", dockerManifest},
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
	} {
		if err := entry(e.name, e.body); err != nil {
			return err
		}
	}
	return tw.Close()
}
