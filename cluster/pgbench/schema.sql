-- The PostgreSQL baselines of cluster/bench: what a shop would build without flashsale, one hot
-- SKU with (practically) unlimited stock, so every successful attempt is a sale.
DROP TABLE IF EXISTS bench_orders;
DROP TABLE IF EXISTS bench_inventory;
CREATE TABLE bench_inventory (sku text PRIMARY KEY, stock bigint NOT NULL, version bigint NOT NULL);
CREATE TABLE bench_orders (id bigserial PRIMARY KEY, sku text NOT NULL, user_id text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO bench_inventory VALUES ('hot', 1000000000000, 0);
