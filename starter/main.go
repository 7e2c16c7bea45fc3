// Command starter is idsync's command line: it creates connections and
// provisioning rules, triggers manual syncs, and shows sync status.
package main

import (
	"os"

	"github.com/idsync/idsync/starter/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
