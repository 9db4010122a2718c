import Foundation

/// Finds the program of an argv the way `execvp` would, but reports a clear reason when it cannot.
enum ExecutableLookup {
    struct Problem: Error, Equatable {
        var message: String
    }

    /// Some execute bit set and `access(X_OK)` agrees (root passes `access` even without any x bit).
    static func isExecutable(_ path: String) -> Bool {
        let permissions =
            (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? 0
        return permissions & 0o111 != 0 && FileManager.default.isExecutableFile(atPath: path)
    }

    static func resolve(_ program: String, path: String?) -> Result<String, Problem> {
        let files = FileManager.default
        if program.contains("/") {
            var isDirectory: ObjCBool = false
            guard files.fileExists(atPath: program, isDirectory: &isDirectory) else {
                return .failure(Problem(message: "\(program): no such file"))
            }
            if isDirectory.boolValue { return .failure(Problem(message: "\(program): is a directory")) }
            guard isExecutable(program) else {
                return .failure(Problem(message: "\(program): permission denied (not executable)"))
            }
            return .success(program)
        }
        let searchPath = path ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in searchPath.split(separator: ":", omittingEmptySubsequences: true) {
            let candidate = "\(directory)/\(program)"
            var isDirectory: ObjCBool = false
            if files.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
                isExecutable(candidate)
            {
                return .success(candidate)
            }
        }
        return .failure(Problem(message: "\(program): not found in PATH (\(searchPath))"))
    }
}
