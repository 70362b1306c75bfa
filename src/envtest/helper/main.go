// Command isc-envtest-helper does two jobs of the local test cluster that Node cannot do alone.
// It issues X.509 certificates, because Node's crypto parses certificates but cannot create
// them. It also starts a process that the kernel kills when its parent dies.
//
// It uses only the Go standard library, so building it needs no module downloads.
//
//	isc-envtest-helper certificates DIR < spec.json
//	isc-envtest-helper exec PARENT_PID PROGRAM [ARG...]
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}

	var err error
	switch os.Args[1] {
	case "certificates":
		if len(os.Args) != 3 {
			usage()
		}
		err = writeCertificates(os.Args[2], os.Stdin)
	case "exec":
		if len(os.Args) < 4 {
			usage()
		}
		err = execWithParentDeathSignal(os.Args[2], os.Args[3], os.Args[3:])
	default:
		usage()
	}

	if err != nil {
		fmt.Fprintf(os.Stderr, "isc-envtest-helper %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: isc-envtest-helper certificates DIR < spec.json")
	fmt.Fprintln(os.Stderr, "       isc-envtest-helper exec PARENT_PID PROGRAM [ARG...]")
	os.Exit(2)
}
