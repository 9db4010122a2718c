import Crypto
import Foundation

/// SHA-256 of bytes as 64 lowercase hex digits: identifies a runbook file version or an alert payload.
public enum Digest {
    public static func sha256(_ data: Data) -> String {
        Hex.encode(SHA256.hash(data: data))
    }
}
