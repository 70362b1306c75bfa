module isc-sa-operator/envtest-helper

go 1.22
