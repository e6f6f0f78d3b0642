"""The fictional demo customers' identities in plain text (the agent keeps only hashes)."""

# customer id -> (first name, last name, postal code, date of birth)
IDENTITIES = {
    "CUST-0001": ("Jane", "Doe", "M5H 1A1", "1985-03-14"),
    "CUST-0002": ("Raj", "Patel", "M4C 1B5", "1979-11-02"),
    "CUST-0003": ("Emily", "Chen", "M5V 2T6", "1992-07-21"),
    "CUST-0004": ("Marc", "Tremblay", "H2X 1Y4", "1988-01-30"),
    "CUST-0005": ("Sophie", "Gagnon", "H3B 2Y5", "1995-05-09"),
    "CUST-0006": ("Liam", "O'Brien", "K1P 5J2", "1970-09-17"),
    "CUST-0007": ("Aisha", "Mohamed", "K2P 1L4", "1983-12-05"),
    "CUST-0008": ("David", "Kim", "V6B 1A1", "1990-02-28"),
    "CUST-0009": ("Olivia", "Wilson", "V5K 0A1", "1987-06-11"),
    "CUST-0010": ("Noah", "Singh", "T2P 1J9", "1975-04-23"),
    "CUST-0011": ("Chloe", "Martin", "T3A 0E2", "1999-10-10"),
    "CUST-0012": ("Ethan", "Brown", "B3H 1A1", "1968-08-08"),
    "CUST-0013": ("Maya", "Roy", "B3J 3K5", "1993-03-03"),
    "CUST-0014": ("Lucas", "Nguyen", "M5H 1A1", "1982-07-07"),
    "CUST-0015": ("Zoe", "Clark", "H2X 1Y4", "1991-09-19"),
    "CUST-0016": ("Omar", "Haddad", "K1P 5J2", "1986-11-26"),
    "CUST-0017": ("Grace", "Lee", "V6B 1A1", "1977-01-15"),
    "CUST-0018": ("Benjamin", "Scott", "T2P 1J9", "1984-05-31"),
    "CUST-0019": ("Hannah", "White", "M4C 1B5", "1996-12-24"),
    "CUST-0020": ("Samuel", "Green", "B3H 1A1", "1972-02-14"),
    "CUST-0021": ("Jane", "Smith", "M6G 2L7", "1989-04-04"),
    "CUST-0022": ("Jane", "Doe", "V5K 0A1", "1990-08-20"),
}
