package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/idsync/idsync/internal/buildinfo"
)

func newVersionCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print starter's version: the module version and the commit it was built from",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintln(f.Out, "starter", buildinfo.Version())
			return nil
		},
	}
}
