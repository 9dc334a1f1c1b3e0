import FlashSaleAdmin
import FlashSaleClient
import Foundation
import Testing

struct TextTableTests {
    @Test func columnsAlignNumbersRightAndTextLeft() {
        var table = TextTable(["sku", "available", "note"])
        table.add(["shoe", "7", "hot"])
        table.add(["sock-long-name", "1200", ""])
        #expect(table.render() == """
            sku             available  note
            shoe                    7  hot
            sock-long-name       1200
            """)
    }

    @Test func aTableWithoutRowsIsItsHeader() {
        #expect(TextTable(["a", "bb"]).render() == "a  bb")
    }
}

struct SKUViewTests {
    @Test func anSKUViewReadsTheAPIAnswerAndShowsOneRow() throws {
        let answer = #"{"sku":"shoe","stock":10,"available":7,"reserved":2,"committed":1,"perUserLimit":2,"reservationTtlSeconds":600,"buckets":3,"startsAt":"2026-12-24T10:00:00.000Z"}"#
        let view = try AdminClient.decode(SKUView.self, Data(answer.utf8), "GET /v1/skus/shoe")
        #expect(view.report == """
            sku   stock  available  reserved  committed  per-user limit  reservation TTL s  buckets  starts at                 ends at
            shoe     10          7         2          1               2                600        3  2026-12-24T10:00:00.000Z  -
            """)
        #expect(throws: AdminError.self) { try AdminClient.decode(SKUView.self, Data("{}".utf8), "GET /v1/skus/shoe") }
    }
}
