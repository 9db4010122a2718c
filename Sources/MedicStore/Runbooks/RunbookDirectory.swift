import Foundation
import MedicCore

/// Finds runbook files under paths given by a user (files, or directories searched recursively for
/// `*.yaml` and `*.yml`), reads and checks each one, and checks ids across the whole set.
public struct RunbookDirectory: Sendable {
    /// Everything learned from one load: each file's result plus problems that span files.
    public struct Loaded: Sendable {
        public var sources: [RunbookSource]
        /// Every diagnostic, from every file and from cross-file checks, in display order.
        public var diagnostics: [Diagnostic]
        /// The runbooks without errors, whose ids are unique.
        public var runbooks: [Runbook] {
            let duplicateFiles = Set(
                diagnostics.filter { $0.id == "duplicate-runbook-id" }.compactMap(\.file))
            return sources.filter { !duplicateFiles.contains($0.path) }.compactMap(\.runbook)
        }
        public var fileCount: Int { sources.count }

        /// The files the runbooks came from, in the same order as `runbooks`.
        public var runbookFiles: [String] {
            let duplicateFiles = Set(
                diagnostics.filter { $0.id == "duplicate-runbook-id" }.compactMap(\.file))
            return sources.filter { !duplicateFiles.contains($0.path) && $0.runbook != nil }.map(\.path)
        }
    }

    /// A path that cannot be used at all (it does not exist): a usage problem, not a runbook problem.
    public struct PathError: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    public var loader: DocumentLoader

    public init(loader: DocumentLoader = DocumentLoader()) {
        self.loader = loader
    }

    /// Loads every runbook under `paths`. Throws only when a path does not exist.
    public func load(_ paths: [String]) throws(PathError) -> Loaded {
        var files: [String] = []
        var diagnostics: [Diagnostic] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw PathError(path: path, reason: "no such file or directory")
            }
            if isDirectory.boolValue {
                let found = Self.runbookFiles(under: path)
                if found.isEmpty {
                    diagnostics.append(
                        Diagnostic(
                            .init(id: "no-runbooks", "no *.yaml or *.yml files under this directory"), at: .file,
                            file: path))
                }
                files += found
            } else {
                files.append(path)
            }
        }
        var seen: Set<String> = []
        let unique = files.filter { seen.insert(URL(fileURLWithPath: $0).standardizedFileURL.path).inserted }
        let sources = unique.map(check(file:))
        diagnostics += sources.flatMap(\.diagnostics)
        diagnostics += RunbookCatalog.duplicateIDs(in: sources)
        for index in diagnostics.indices where diagnostics[index].location == nil {
            diagnostics[index].location = SourceLocation(line: 1, column: 1)
        }
        return Loaded(sources: sources, diagnostics: diagnostics.sortedForDisplay())
    }

    /// Reads `files` again one at a time, keeping only each decoded runbook, for a process that keeps them
    /// for long (`medic serve`). Everything temporary of one file is freed before the next is read, so the
    /// runbooks end up packed together instead of pinning pages among the loader's freed trees (a third of
    /// the memory for a large set). Nil when a file no longer checks clean or the ids changed since `load`.
    public func compactRunbooks(files: [String], expecting ids: [String]) -> [Runbook]? {
        var runbooks: [Runbook] = []
        runbooks.reserveCapacity(files.count)
        for file in files {
            let source = check(file: file)
            guard let runbook = source.runbook, !source.diagnostics.hasErrors else { return nil }
            runbooks.append(runbook)
        }
        return runbooks.map(\.id) == ids ? runbooks : nil
    }

    /// Reads and checks one file; unreadable, special or oversized files become diagnostics.
    public func check(file path: String) -> RunbookSource {
        func failed(_ message: DiagnosticMessage) -> RunbookSource {
            var source = RunbookSource.check(data: Data(), path: path)
            source.diagnostics = [Diagnostic(message, at: .location(SourceLocation(line: 1, column: 1)), file: path)]
            return source
        }
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
            return failed(.init(id: "unreadable-file", "cannot read file"))
        }
        if let type = attributes[.type] as? FileAttributeType, type != .typeRegular, type != .typeSymbolicLink {
            return failed(.init(id: "unreadable-file", "not a regular file"))
        }
        if let size = (attributes[.size] as? NSNumber)?.intValue, size > loader.limits.maxBytes {
            return failed(.fileTooLarge(bytes: size, limit: loader.limits.maxBytes))
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            return failed(.init(id: "unreadable-file", "cannot open file (permission denied?)"))
        }
        defer { try? handle.close() }
        // Read at most one byte past the limit, so a file that grew after the size check is still refused.
        let data = (try? handle.read(upToCount: loader.limits.maxBytes + 1)) ?? Data()
        return RunbookSource.check(data: data, path: path, loader: loader)
    }

    /// `*.yaml` and `*.yml` files under `directory`, recursively, skipping hidden entries, in a stable order.
    static func runbookFiles(under directory: String) -> [String] {
        let base = URL(fileURLWithPath: directory)
        guard
            let enumerator = FileManager.default.enumerator(
                at: base, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles])
        else { return [] }
        var files: [String] = []
        for case let url as URL in enumerator {
            let ext = url.pathExtension.lowercased()
            guard ext == "yaml" || ext == "yml" else { continue }
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            // Show paths relative to what the user typed: `runbooks/disk.yaml`, not an absolute path.
            let relative =
                url.path.hasPrefix(base.path + "/")
                ? String(url.path.dropFirst(base.path.count + 1)) : url.lastPathComponent
            files.append(directory.hasSuffix("/") ? directory + relative : directory + "/" + relative)
        }
        return files.sorted()
    }
}
