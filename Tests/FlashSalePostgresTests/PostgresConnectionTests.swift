import FlashSalePostgres
import FlashSaleTesting
import Testing

@Suite struct PostgresConnectionTests {
    @Test func executesParameterisedStatementsAndReportsErrors() throws {
        let server = try PostgresServer()
        let connection = try PostgresConnection(url: server.url)
        try connection.execute("CREATE TABLE t (id text PRIMARY KEY, n bigint, note text)")
        try connection.execute("INSERT INTO t VALUES ($1, $2, $3)", ["a'b", "42", nil])
        let rows = try connection.execute("SELECT id, n, note FROM t WHERE id = $1", ["a'b"])
        #expect(rows == [["a'b", "42", nil]])
        do {
            try connection.execute("INSERT INTO t VALUES ($1, $2, $3)", ["a'b", "1", nil])
            Issue.record("a duplicate key was accepted")
        } catch {
            guard case .queryFailed(let state, let message) = error else { Issue.record("\(error)"); return }
            #expect(state == "23505")  // unique_violation
            #expect(message.contains("duplicate key"))
        }
    }

    @Test func aWrongAddressIsAClearError() {
        #expect(throws: PostgresError.self) {
            try PostgresConnection(url: "postgresql://postgres@127.0.0.1:\(ServerProcess.freePort())/postgres?connect_timeout=2")
        }
    }
}
