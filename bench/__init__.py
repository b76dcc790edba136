"""Every benchmark: runtime throughput (`throughput`, `skyseg bench MODEL`), end-to-end against Ultralytics (`e2e`,
`ultralytics_ref`), train vs deploy model latency (`models`), INT8 calibration strategies (`calib`), the report and
plot writer (`report`) and the machine description (`sysinfo`). `skyseg bench` is the one entry point; benchmarks
print numbers, tests never time anything."""
