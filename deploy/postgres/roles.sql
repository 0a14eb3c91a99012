-- Roles of a gateway database (docs/deploy.md, "PostgreSQL"). Run once, as a superuser, in the gateway's database:
--   psql -d gateway -v owner=gateway_owner -v app=gateway_app \
--        -v owner_password="…" -v app_password="…" -f deploy/postgres/roles.sql
-- URLs name the schema: …/gateway?options=-csearch_path%3Dgateway (a restored copy keeps working).
-- owner: owns the schema "gateway" and is the only role that changes it (`gateway migrate`);
-- app:   what `gateway serve` and `gateway relay` connect as — reads and writes rows, never changes the schema
--        (after-migrate.sql also takes from it any UPDATE or DELETE on the audit log).
\set ON_ERROR_STOP on
CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password';
CREATE ROLE :"app" LOGIN PASSWORD :'app_password';
REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"DBNAME" TO :"owner", :"app";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA gateway AUTHORIZATION :"owner";
GRANT USAGE ON SCHEMA gateway TO :"app";
-- what the owner creates from now on (every migration) is the app's to read and write, not to alter
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA gateway
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA gateway
    GRANT USAGE, SELECT ON SEQUENCES TO :"app";
