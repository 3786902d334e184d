"""SQL access by table family, and the migrations runner over ../sql."""
