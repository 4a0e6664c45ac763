// Command rpmls prints an .rpm's name-version-release and file list, one
// file a line with its mode and whether it is %config(noreplace), for hosts
// without rpm (verify.sh). Usage: rpmls FILE.rpm
package main

import (
	"fmt"
	"os"

	rpmutils "github.com/sassoftware/go-rpmutils"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: rpmls FILE.rpm")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "rpmls:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rpm, err := rpmutils.ReadRpm(f)
	if err != nil {
		return err
	}
	nevra, err := rpm.Header.GetNEVRA()
	if err != nil {
		return err
	}
	fmt.Printf("# %s-%s-%s.%s\n", nevra.Name, nevra.Version, nevra.Release, nevra.Arch)
	requires, _ := rpm.Header.GetStrings(rpmutils.REQUIRENAME)
	for _, r := range requires {
		fmt.Printf("# requires %s\n", r)
	}
	files, err := rpm.Header.GetFiles()
	if err != nil {
		return err
	}
	for _, fi := range files {
		kind := "-"
		if fi.Flags()&rpmutils.RPMFILE_CONFIG != 0 {
			kind = "config"
			if fi.Flags()&rpmutils.RPMFILE_NOREPLACE != 0 {
				kind = "config(noreplace)"
			}
		}
		fmt.Printf("%s %o %s\n", fi.Name(), fi.Mode(), kind)
	}
	return nil
}
