import CMedicFuzz
import Foundation
import MedicCore

// Built two ways. `scripts/fuzz.sh` builds with `-sanitize=fuzzer,address -DMEDIC_FUZZ`: libFuzzer owns
// `main` and calls the entry point below with the target named by MEDIC_FUZZ_TARGET. A plain build replays
// files instead: `medic-fuzz TARGET FILE...` runs each through the target, for reproducing a crash.

let target: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["MEDIC_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        FileHandle.standardError.write(Data("MEDIC_FUZZ_TARGET must be one of \(names)\n".utf8))
        exit(2)
    }
    return target
}()

#if MEDIC_FUZZ
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOneInput(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
        let data = start.map { Data(bytes: $0, count: count) } ?? Data()
        target.run(data)
        return 0
    }
#else
    @main
    struct Replay {
        static func main() {
            for path in CommandLine.arguments.dropFirst() {
                guard let data = FileManager.default.contents(atPath: path) else {
                    FileHandle.standardError.write(Data("cannot read \(path)\n".utf8))
                    exit(2)
                }
                target.run(data)
                print("ok \(path)")
            }
        }
    }
#endif
