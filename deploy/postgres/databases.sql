-- One database per service (docs/design.md): pricing never reads inventory's tables.
CREATE DATABASE inventory;
CREATE DATABASE pricing;
