package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newManCmd is the hidden `ssld man DIR`: it writes one man page (section
// 1) per command of root into DIR, from the commands' own help, so the
// pages say what --help says. scripts/package ships them.
func newManCmd(root *cobra.Command) *cobra.Command {
	var date string
	cmd := &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the man pages of every command into DIR (for packaging)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			when := time.Now().UTC()
			if date != "" {
				t, err := time.Parse(time.RFC3339, date)
				if err != nil {
					return usageError{fmt.Errorf("--date %q: want RFC 3339 (2026-12-05T22:21:35Z)", date)}
				}
				when = t.UTC()
			}
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			root.DisableAutoGenTag = true // no generation date inside the pages: reproducible
			return doc.GenManTreeFromOpts(root, doc.GenManTreeOptions{
				Path: args[0], CommandSeparator: "-",
				Header: &doc.GenManHeader{Section: "1", Date: &when, Source: "ssld " + currentBuild().Version, Manual: "ssld manual"},
			})
		},
	}
	cmd.Flags().StringVar(&date, "date", "", "the date the pages carry, RFC 3339 (default: now; scripts/package gives the commit time)")
	return cmd
}
