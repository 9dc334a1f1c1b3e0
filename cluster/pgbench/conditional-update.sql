-- Reserve with a conditional decrement: the row lock serialises buyers; an order row is written
-- only when the decrement happened (the CTE's RETURNING).
\set user random(1, 1000000000)
BEGIN;
WITH taken AS (UPDATE bench_inventory SET stock = stock - 1 WHERE sku = 'hot' AND stock >= 1 RETURNING sku)
INSERT INTO bench_orders (sku, user_id) SELECT sku, 'u' || :user FROM taken;
COMMIT;
