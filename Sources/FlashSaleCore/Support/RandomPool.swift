#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Random bits from the kernel's secure generator (/dev/urandom), read 4 KiB at a time.
/// Reservation ids must stay unguessable (an id is all it takes to commit or release a
/// reservation), and `SystemRandomNumberGenerator` makes one getrandom system call per 8 bytes:
/// the profile of the hot path showed those calls; one read now serves 512 words.
public enum RandomPool {
    static let wordsPerRefill = 512

    private struct Pool: ~Copyable {
        var words = [UInt64](repeating: 0, count: RandomPool.wordsPerRefill)
        var next = RandomPool.wordsPerRefill
    }

    private static let pool = Mutex(Pool())

    public static func next() -> UInt64 {
        Self.pool.withLock { pool in
            if pool.next == pool.words.count {
                Self.refill(&pool.words)
                pool.next = 0
            }
            defer { pool.next += 1 }
            return pool.words[pool.next]
        }
    }

    private static func refill(_ words: inout [UInt64]) {
        words.withUnsafeMutableBytes { bytes in
            var filled = 0
            let device = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
            if device >= 0 {
                while filled < bytes.count {
                    let count = read(device, bytes.baseAddress! + filled, bytes.count - filled)
                    if count > 0 {
                        filled += count
                    } else if count == 0 || errno != EINTR {
                        break
                    }
                }
                close(device)
            }
            // Without the device (never on the Linux this runs on): the standard library's generator.
            var generator = SystemRandomNumberGenerator()
            for index in filled..<bytes.count { bytes[index] = generator.next() }
        }
    }

    /// `value` as exactly `digits` lowercase hex digits.
    public static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
