import Foundation
import MedicCore

extension RunbookDirectory {
    /// The runbook set under `directory` for a server, or its errors. Checked in full first (every diagnostic,
    /// ids across files); then, as a server keeps the runbooks for long, read again compactly, keeping nothing
    /// but the runbooks (see `compactRunbooks`). Warnings are not kept.
    public static func servingSet(in directory: String) throws -> (runbooks: [Runbook], errors: [Diagnostic]) {
        let (files, ids, errors) = try {
            let loaded = try RunbookDirectory().load([directory])
            let errors = loaded.diagnostics.filter { $0.severity == .error }
            return (loaded.runbookFiles, loaded.runbooks.map(\.id), errors)
        }()
        guard errors.isEmpty else { return ([], errors) }
        FreedMemory.giveBack()
        if let compact = RunbookDirectory().compactRunbooks(files: files, expecting: ids) {
            return (compact, [])
        }
        // A file changed between the two reads: take the set as it is now, checked in full.
        let loaded = try RunbookDirectory().load([directory])
        return (loaded.runbooks, loaded.diagnostics.filter { $0.severity == .error })
    }
}
